/** Reading Server-Sent Events streams in tests, as EventSource does (id, event, data). */
import assert from 'node:assert/strict';
import type { Frame } from './ws.js';

/** One event of a Server-Sent Events stream, its data (a protocol frame) parsed. */
export interface SseEvent { id?: string; event: string; data: Frame }

/** Reads events from an SSE response until `enough` says so (or the stream ends); then cuts it. */
export async function readEvents(url: string, headers: Record<string, string>, enough: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/event-stream/);
  const events: SseEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const e: Partial<SseEvent> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = line.slice(4);
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6)) as SseEvent['data'];
        }
        if (e.event) events.push(e as SseEvent);
        if (enough(events)) break;
      }
    }
  } finally {
    ac.abort();
  }
  return events;
}
