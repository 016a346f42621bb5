import type { AppendRecord } from '../core/record.js';
import type { Log } from '../log/log.js';

/** Options of {@link startGenerator}. */
export interface GeneratorSourceOptions {
  log: Log;
  topic: string;
  ratePerSecond: number;
  next: (i: number, now: number) => unknown;
  key?: (event: unknown) => string | null;
  /** How often a batch is appended. Default 100 ms. */
  tickMs?: number;
  onError?: (err: Error) => void;
}

/** A running generator. */
export interface RunningGenerator {
  readonly produced: number;
  stop(): Promise<void>;
}

/**
 * Appends synthetic events to a topic at a steady rate, in one batch per tick. It catches up after a
 * slow tick but never bursts more than one second's worth at once.
 */
export function startGenerator(options: GeneratorSourceOptions): RunningGenerator {
  const tick = options.tickMs ?? 100;
  const started = Date.now();
  let produced = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    const now = Date.now();
    const due = Math.floor(((now - started) / 1000) * options.ratePerSecond) - produced;
    const n = Math.min(due, Math.ceil(options.ratePerSecond));
    if (n <= 0) return;
    const batch: AppendRecord[] = new Array(n);
    for (let j = 0; j < n; j++) {
      const value = options.next(produced + j, now);
      batch[j] = { key: options.key ? options.key(value) : null, value };
    }
    produced += due;
    inFlight = options.log.append(options.topic, batch).catch((err: Error) => options.onError?.(err));
  }, tick);
  return {
    get produced() {
      return produced;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
