import { z } from 'zod';
import { RivuletError } from '../core/errors.js';
import type { LogRecord } from '../core/record.js';
import { toEpochMillis } from '../core/time.js';
import type { Log } from '../log/log.js';

/**
 * What topic subscriptions share, over WebSocket and Server-Sent Events (docs/protocol.md): where one
 * starts, its filter, and the loop that reads the topic and hands out frames with the positions to
 * resume from.
 */

export const From = z.union([
  z.literal('earliest'),
  z.literal('latest'),
  z.object({ offsets: z.array(z.number().int().nonnegative()) }).strict(),
  z.object({ last: z.number().int().positive().max(10_000) }).strict(),
  z.object({ time: z.union([z.number(), z.string()]) }).strict(),
]);

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const Predicate = z.discriminatedUnion('op', [
  z.object({ field: z.string().min(1), op: z.enum(['eq', 'ne']), value: Scalar }).strict(),
  z.object({ field: z.string().min(1), op: z.enum(['lt', 'lte', 'gt', 'gte']), value: z.union([z.number(), z.string()]) }).strict(),
  z.object({ field: z.string().min(1), op: z.literal('in'), value: z.array(Scalar).max(1000) }).strict(),
  z.object({ field: z.string().min(1), op: z.literal('exists') }).strict(),
]);
/** Server-side filter: records or rows whose key is one of `keys` and whose value meets every `where`. */
export const Filter = z.object({ keys: z.array(z.string()).min(1).max(1000).optional(), where: z.array(Predicate).min(1).max(20).optional() }).strict();

/** Where a topic subscription starts. */
export type SubscribeFrom = z.infer<typeof From>;

/** A subscription's filter, as the client sent it. */
export type SubscriptionFilter = z.infer<typeof Filter>;

/** The value at a dotted path (`'card.country'`), or undefined. */
function fieldOf(value: unknown, path: string[]): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** A filter as a test on a record's key and value (`undefined`: everything passes). */
export function compileFilter(filter: SubscriptionFilter | undefined): ((key: string | null, value: unknown) => boolean) | undefined {
  if (!filter) return undefined;
  const keys = filter.keys ? new Set(filter.keys) : undefined;
  const tests = (filter.where ?? []).map((p): ((value: unknown) => boolean) => {
    const path = p.field.split('.');
    switch (p.op) {
      case 'eq': return (v) => fieldOf(v, path) === p.value;
      case 'ne': return (v) => fieldOf(v, path) !== p.value;
      case 'in': { const set = new Set(p.value); return (v) => set.has(fieldOf(v, path) as never); }
      case 'exists': return (v) => fieldOf(v, path) !== undefined;
      default: {
        // Ordered comparisons hold only between values of the same type (numbers, or strings).
        const bound = p.value;
        const cmp = p.op;
        return (v) => {
          const x = fieldOf(v, path);
          if (typeof x !== typeof bound) return false;
          const a = x as number | string;
          return cmp === 'lt' ? a < bound : cmp === 'lte' ? a <= bound : cmp === 'gt' ? a > bound : a >= bound;
        };
      }
    }
  });
  return (key, value) => (keys === undefined || (key !== null && keys.has(key))) && tests.every((t) => t(value));
}

/** Frames a record the way every `records` frame carries it. */
export function wireRecord(r: LogRecord): { partition: number; offset: number; key: string | null; timestamp: number; value: unknown } {
  return { partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp, value: r.value };
}

/** The offsets a subscription starts at; `invalid_subscription` when `from` does not fit the topic. */
export async function startPositions(log: Log, topic: string, from: SubscribeFrom): Promise<number[]> {
  const ends = log.endOffsets(topic);
  const starts = log.startOffsets(topic);
  if (from === 'earliest') return starts;
  if (from === 'latest') return [...ends];
  if ('last' in from) return ends.map((e, p) => Math.max(starts[p]!, e - Math.ceil(from.last / ends.length)));
  if ('time' in from) {
    const at = toEpochMillis(from.time);
    if (at === undefined) throw new RivuletError('invalid_subscription', `'from.time' must be epoch milliseconds or an ISO-8601 string, got ${JSON.stringify(from.time)}`);
    return Promise.all(ends.map((_, p) => log.offsetForTimestamp(topic, p, at)));
  }
  if (from.offsets.length !== ends.length) throw new RivuletError('invalid_subscription', `topic '${topic}' has ${ends.length} partitions; 'offsets' must list one offset for each`);
  const beyond = from.offsets.findIndex((o, p) => o > ends[p]!);
  if (beyond >= 0) {
    // Records would arrive there only after others the client never saw (a topic made anew, say).
    throw new RivuletError('invalid_subscription', `offset ${from.offsets[beyond]} of partition ${beyond} is past the end of topic '${topic}' (${ends[beyond]})`);
  }
  return [...from.offsets];
}

/** What a topic subscription sends: records with the positions after them, or a gap. */
export type TopicFrame =
  | { type: 'records'; records: ReturnType<typeof wireRecord>[]; positions: number[] }
  | { type: 'gap'; partition: number; from: number; to: number; reason: 'retention' | 'slow_consumer' };

/**
 * Reads `topic` from `positions` (updated in place) until `signal` aborts or `open()` turns false,
 * handing each frame to `emit` and awaiting it (back-pressure).
 */
export async function followPositions(log: Log, topic: string, positions: number[], options: {
  batch: number;
  filter?: SubscriptionFilter | undefined;
  signal: AbortSignal;
  open: () => boolean;
  emit: (frame: TopicFrame) => Promise<void>;
  /** Reads go no further than these offsets (a shared tail's, to meet it there). */
  limitTo?: () => readonly number[] | undefined;
  /**
   * Asked when a read found nothing more: `joined` ends the loop (a shared tail sends from now on),
   * `retry` reads again at once, `wait` waits for new records.
   */
  caughtUp?: () => Promise<'joined' | 'retry' | 'wait'>;
}): Promise<void> {
  const { batch, signal } = options;
  const passes = compileFilter(options.filter);
  while (!signal.aborted && options.open()) {
    const out: ReturnType<typeof wireRecord>[] = [];
    let read = 0;
    const limit = options.limitTo?.();
    for (let p = 0; p < positions.length; p++) {
      const wanted = positions[p]!;
      const room = limit === undefined ? batch : Math.min(batch, (limit[p] ?? 0) - wanted);
      const records = room > 0 ? await log.read(topic, p, wanted, room) : [];
      // A read below the partition's start (retention) starts at the oldest record: the records in
      // between are gone, which the subscriber is told, never left to guess. (Holes in the offsets of
      // compacted topics are not gaps.)
      const start = log.startOffsets(topic)[p]!;
      const first = records[0]?.offset ?? start;
      if (wanted < start && first > wanted) await options.emit({ type: 'gap', partition: p, from: wanted, to: Math.min(start, first), reason: 'retention' });
      if (records.length > 0) positions[p] = records.at(-1)!.offset + 1;
      else if (wanted < start) positions[p] = start;
      read += records.length;
      for (const r of records) if (!passes || passes(r.key, r.value)) out.push(wireRecord(r));
    }
    if (signal.aborted) return;
    if (out.length > 0) {
      await options.emit({ type: 'records', records: out, positions: [...positions] });
    } else if (read > 0) {
      // Everything read was filtered out: let other work run before reading on.
      await new Promise((r) => setImmediate(r));
    } else {
      const next = options.caughtUp ? await options.caughtUp() : 'wait';
      if (next === 'joined') return;
      if (next === 'wait') await log.waitForRecords(topic, positions, signal);
      else await new Promise((r) => setImmediate(r));
    }
  }
}
