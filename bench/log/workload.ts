import { randomFillSync } from 'node:crypto';

/** Durability of an append case: fsync every 10 ms in the background, or before each acknowledgement. */
export type Durability = 'interval' | 'always';

/** One append case, run the same way against the embedded log and each peer. */
export interface AppendCase {
  /** Bytes of each record's value. */
  recordBytes: number;
  /** Records per append call (per pipelined window for the peers). */
  batch: number;
  /** Appenders in flight, each awaiting its own call before the next. */
  concurrency: number;
  durability: Durability;
}

/** Time and size limits of one measurement. */
export interface Budget {
  seconds: number;
  warmupSeconds: number;
  /** Stop after this many payload bytes (measured part only). */
  maxBytes: number;
}

/** What one measurement moved. `bytes` counts values only (no keys, headers or framing). */
export interface Throughput {
  records: number;
  bytes: number;
  seconds: number;
}

/** The interval of the `'interval'` durability, for the log, the raw-file baseline and the metric names. */
export const SYNC_INTERVAL_MS = 10;

/** The append cases: 100 B and 1 KiB values, batches of 1 (64 in flight) and 1000 (1 in flight), both durabilities. */
export const APPEND_CASES: readonly AppendCase[] = [100, 1024].flatMap((recordBytes) =>
  [1000, 1].flatMap((batch) =>
    (['interval', 'always'] as const).map((durability) => ({ recordBytes, batch, concurrency: batch === 1 ? 64 : 1, durability })),
  ),
);

/** `100B.b1000.c1.fsync-10ms`: the part of a metric name that identifies the case. */
export function caseLabel(c: AppendCase): string {
  const size = c.recordBytes % 1024 === 0 ? `${c.recordBytes / 1024}KiB` : `${c.recordBytes}B`;
  const fsync = c.durability === 'interval' ? `fsync-${SYNC_INTERVAL_MS}ms` : 'fsync-always';
  return `${size}.b${c.batch}.c${c.concurrency}.${fsync}`;
}

/** `count` random values of `bytes` bytes each (one allocation, distinct views). */
export function makeValues(bytes: number, count: number): Uint8Array[] {
  const all = randomFillSync(new Uint8Array(bytes * count));
  return Array.from({ length: count }, (_, i) => all.subarray(i * bytes, (i + 1) * bytes));
}

/** Several measurements of one system taken as one. */
export function addUp(parts: readonly Throughput[]): Throughput {
  return parts.reduce((a, b) => ({ records: a.records + b.records, bytes: a.bytes + b.bytes, seconds: a.seconds + b.seconds }), { records: 0, bytes: 0, seconds: 0 });
}

/** Records per second of a measurement. */
export function recordsPerSecond(t: Throughput): number {
  return t.records / t.seconds;
}

/** Payload megabytes (10^6 bytes) per second of a measurement. */
export function megabytesPerSecond(t: Throughput): number {
  return t.bytes / 1e6 / t.seconds;
}
