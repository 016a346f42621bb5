/**
 * A child process of `rivulet loadtest`: holds its share of the WebSocket subscribers (one process can
 * hold only so many sockets), counts what they receive and how long after ingest it arrived, and
 * reports to the parent over IPC. Messages: in `start` (its share), out `ready`, `progress`, `done`.
 */
import WebSocket from 'ws';
import { LatencyHistogram } from './latency-histogram.js';

/** What the parent tells a worker. */
export interface WorkerStart {
  type: 'start';
  wsUrl: string;
  token?: string;
  topic: string;
  /** Subscribers of this worker, numbered from `first`. */
  first: number;
  count: number;
  /** 0: every subscriber follows every record; N: subscriber i follows key `k<i mod N>`. */
  keys: number;
}

/** What a worker reports. */
export type WorkerReport =
  | { type: 'ready'; connected: number; errors: string[] }
  | { type: 'progress'; delivered: number }
  | { type: 'done'; delivered: number; histogram: [number, number][]; errors: string[] };

const now = () => performance.timeOrigin + performance.now();

async function start(task: WorkerStart): Promise<void> {
  const histogram = new LatencyHistogram();
  const errors: string[] = [];
  let delivered = 0;
  const sockets: WebSocket[] = [];
  const url = task.token ? `${task.wsUrl}?access_token=${encodeURIComponent(task.token)}` : task.wsUrl;
  const open = (i: number) => new Promise<void>((resolve) => {
    const socket = new WebSocket(url);
    sockets.push(socket);
    socket.on('open', () => {
      const filter = task.keys > 0 ? { filter: { keys: [`k${i % task.keys}`] } } : {};
      socket.send(JSON.stringify({ type: 'subscribe', id: 'l', topic: task.topic, from: 'latest', ...filter }));
    });
    socket.on('message', (data) => {
      const at = now();
      const frame = JSON.parse(data.toString()) as { type: string; records?: { value: { sentAt?: number } }[]; message?: string };
      if (frame.type === 'subscribed') resolve();
      else if (frame.type === 'records') {
        for (const r of frame.records!) {
          delivered++;
          if (typeof r.value?.sentAt === 'number') histogram.record(at - r.value.sentAt);
        }
      } else if (frame.type === 'error') {
        if (errors.length < 10) errors.push(frame.message ?? 'error');
        resolve();
      }
    });
    socket.on('error', (err) => {
      if (errors.length < 10) errors.push(err.message);
      resolve();
    });
  });
  // Connections open a few hundred at a time: a burst of thousands would overflow the accept queue.
  for (let i = 0; i < task.count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, task.count - i) }, (_, j) => open(task.first + i + j)));
  }
  send({ type: 'ready', connected: sockets.filter((s) => s.readyState === WebSocket.OPEN).length, errors });
  const progress = setInterval(() => send({ type: 'progress', delivered }), 1000);
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    clearInterval(progress);
    for (const s of sockets) s.terminate();
    send({ type: 'done', delivered, histogram: histogram.sparse(), errors });
    process.disconnect?.();
  });
}

function send(report: WorkerReport): void {
  process.send?.(report);
}

process.on('message', (m: WorkerStart) => {
  if (m.type === 'start') start(m).catch((err: unknown) => {
    process.send?.({ type: 'ready', connected: 0, errors: [String(err)] });
  });
});
