/**
 * A connection replaced for silence: frames still arriving on the old socket (`ws` emits messages while
 * CLOSING) must not reach the subscriptions, or their positions would move back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from '../../src/client/mod.js';
import type { Frame } from '../helpers/ws.js';

const sockets: FakeWs[] = [];
class FakeWs {
  readyState = 0;
  sent: Frame[] = [];
  onopen: ((e: never) => void) | null = null;
  onmessage: ((e: never) => void) | null = null;
  onclose: ((e: never) => void) | null = null;
  onerror: ((e: never) => void) | null = null;
  constructor(readonly url: string) { sockets.push(this); setTimeout(() => { this.readyState = 1; this.onopen?.({} as never); }, 1); }
  send(data: string) { this.sent.push(JSON.parse(data)); }
  close() { this.readyState = 2; } // CLOSING: the close handshake waits for the (silent) peer
  deliver(frame: unknown) { this.onmessage?.({ data: JSON.stringify(frame) } as never); } // ws: also while CLOSING
}

test('frames of a connection replaced for silence are not handed to the subscriptions', async () => {
  const got: number[] = [];
  const client = createClient({ url: 'http://x', WebSocket: FakeWs as never, idleTimeoutMs: 100, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
  const sub = client.subscribe('t', { from: { offsets: [0] }, onRecords: (rs) => got.push(...rs.map((r) => r.offset)) });
  await new Promise((r) => setTimeout(r, 20));
  const old = sockets[0]!;
  old.deliver({ type: 'subscribed', id: 's1', topic: 't', positions: [0] });
  await new Promise((r) => setTimeout(r, 200)); // silent: replaced
  const fresh = sockets[1]!;
  assert.ok(fresh, 'a new connection');
  assert.deepEqual(fresh.sent[0]!.from, { offsets: [0] });
  fresh.deliver({ type: 'subscribed', id: 's1', topic: 't', positions: [0] });
  fresh.deliver({ type: 'records', id: 's1', records: [{ partition: 0, offset: 0 }, { partition: 0, offset: 1 }], positions: [2] });
  // The old network path wakes up and delivers what it had queued.
  old.deliver({ type: 'records', id: 's1', records: [{ partition: 0, offset: 0 }], positions: [1] });
  assert.deepEqual(got, [0, 1], 'each record once');
  assert.deepEqual(sub.positions, [2]);
  client.close();
});
