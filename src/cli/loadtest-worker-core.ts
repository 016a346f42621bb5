import { LatencyHistogram } from './latency-histogram.js';

/** What the parent tells a worker. */
export interface WorkerStart {
  type: 'start';
  /** Where subscribers connect: for Rivulet, its `/v1/ws`. */
  url: string;
  token?: string;
  topic: string;
  /** Subscribers of this worker, numbered from `first`. */
  first: number;
  count: number;
  /** 0: every subscriber follows every record; N: subscriber i follows key `k<i mod N>`. */
  keys: number;
}

/** What the parent tells a worker once the warm-up is set: latencies of events sent before `from` (epoch ms) are not recorded. */
export interface WorkerMeasure {
  type: 'measure';
  from: number;
}

/** What a worker reports. */
export type WorkerReport =
  | { type: 'ready'; connected: number; errors: string[] }
  | { type: 'progress'; delivered: number }
  | { type: 'done'; delivered: number; histogram: [number, number][]; errors: string[] };

/** What a subscriber reports to its worker. */
export interface SubscriberEvents {
  /** One event arrived, stamped `sentAt` (epoch ms) when it was appended. */
  received(sentAt: unknown): void;
  error(message: string): void;
}

/**
 * Opens subscriber `index` of `task`; resolves once it is subscribed or has failed (the reason
 * reported through `events.error`), with whether it subscribed and the function that drops it.
 */
export type OpenSubscriber = (task: WorkerStart, index: number, events: SubscriberEvents) => Promise<{ subscribed: boolean; close: () => void }>;

/** The wall clock in ms with sub-ms precision, comparable between processes. */
export const wallClock = () => performance.timeOrigin + performance.now();

/**
 * The body of a load test worker process: waits for its share (`start`), opens the subscribers a few
 * hundred at a time, reports `ready`, then progress every 100 ms and, on `stop`, its counts and
 * latency histogram.
 */
export function workerMain(open: OpenSubscriber): void {
  // Until told otherwise, every event's latency counts.
  let measureFrom = -Infinity;
  process.on('message', (m: WorkerStart | WorkerMeasure | { type: 'stop' }) => {
    if (m.type === 'start') run(m).catch((err: unknown) => send({ type: 'ready', connected: 0, errors: [String(err)] }));
    else if (m.type === 'measure') measureFrom = m.from;
  });

  async function run(task: WorkerStart): Promise<void> {
    const histogram = new LatencyHistogram();
    const errors: string[] = [];
    let delivered = 0;
    let connected = 0;
    const closers: (() => void)[] = [];
    const events: SubscriberEvents = {
      received(sentAt) {
        delivered++;
        if (typeof sentAt === 'number' && sentAt >= measureFrom) histogram.record(wallClock() - sentAt);
      },
      error(message) {
        if (errors.length < 10) errors.push(message);
      },
    };
    // A burst of thousands of connections at once would overflow the server's accept queue.
    for (let i = 0; i < task.count; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, task.count - i) }, async (_, j) => {
        const { subscribed, close } = await open(task, task.first + i + j, events);
        closers.push(close);
        if (subscribed) connected++;
      }));
    }
    send({ type: 'ready', connected, errors });
    const progress = setInterval(() => send({ type: 'progress', delivered }), 100);
    process.on('message', (m: { type: string }) => {
      if (m.type !== 'stop') return;
      clearInterval(progress);
      for (const close of closers) close();
      // Disconnecting only once the report is out: the channel would drop it otherwise.
      process.send?.({ type: 'done', delivered, histogram: histogram.sparse(), errors } satisfies WorkerReport, () => process.disconnect?.());
    });
  }
}

function send(report: WorkerReport): void {
  process.send?.(report);
}
