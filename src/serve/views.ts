import { RivuletError } from '../core/errors.js';
import type { LogRecord } from '../core/record.js';
import type { Log } from '../log/log.js';
import { EmptyReads } from '../log/empty-reads.js';

/** One row of a view: the latest value of a key, and where in the topic it came from. */
export interface ViewRow {
  key: string;
  value: unknown;
  partition: number;
  offset: number;
  timestamp: number;
}

/** Which rows of a view a range query wants, in ascending key order. */
export interface ViewRange {
  /** Keys that start with this. */
  prefix?: string;
  /** Keys at or after this. */
  from?: string;
  /** Keys before this. */
  to?: string;
  /** Keys after this (where the previous page ended). */
  after?: string;
  /** At most this many rows. */
  limit: number;
}

/** Index of the first key in `keys` (sorted) that is not below `k` (or, `strict`, not at or below it). */
function lowerBound(keys: string[], k: string, strict = false): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < k || (strict && keys[mid] === k)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The published watermark of the pipeline writing a topic (see `Engine.publishedWatermarkOf`). */
export type WatermarkSource = (topic: string) => number | null | undefined;

/** A change to a view: an upsert (`value` set) or a delete (`deleted: true`, from a null value). */
export type ViewChange = (ViewRow & { deleted?: false }) | { key: string; deleted: true; partition: number; offset: number; timestamp: number };

/** Runs `wait` with a signal that aborts after `ms` or with `outer`. */
async function waitAtMost(ms: number, wait: (signal: AbortSignal) => Promise<void>, outer: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  outer.addEventListener('abort', onAbort, { once: true });
  if (outer.aborted) ac.abort();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await wait(ac.signal);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener('abort', onAbort);
  }
}

/**
 * A table materialized from a keyed topic: the latest value per key; a record with a `null` value
 * deletes its key. It follows the topic as records are appended and tells its listeners.
 */
export class View {
  /** The rows by record key; rebuilt from the topic at every start, so no state backend and no checkpoints. */
  private readonly store = new Map<string, ViewRow>();
  private readonly listeners = new Set<(changes: ViewChange[]) => void>();
  private positions: number[] = [];
  private readonly emptyReads = new EmptyReads();
  private wm: number | null = null;
  private loop: Promise<void> | undefined;
  /**
   * The keys in ascending order, brought up to date when a query needs them: `sorted` may still hold
   * keys in `removed` and lacks those in `added`, so that updates cost a set operation, not an insert.
   */
  private sorted: string[] = [];
  private readonly added = new Set<string>();
  private readonly removed = new Set<string>();

  constructor(readonly name: string, private readonly log: Log, private readonly signal: AbortSignal, private readonly watermarkOf: WatermarkSource = () => undefined) {}

  start(): void {
    this.positions = this.log.endOffsets(this.name).map(() => 0);
    this.loop = this.run().catch((err: unknown) => {
      if (!this.signal.aborted) console.error(`view '${this.name}' stopped:`, err);
    });
  }

  async stopped(): Promise<void> {
    await this.loop;
  }

  get(key: string): ViewRow | undefined {
    return this.store.get(key);
  }

  /** Every row, in ascending key order. */
  rows(): ViewRow[] {
    return this.keys().map((k) => this.store.get(k)!);
  }

  /** The rows in a key range, in ascending key order (one page of at most `limit`). */
  range(q: ViewRange): ViewRow[] {
    const keys = this.keys();
    const lower = [q.prefix ?? '', q.from ?? ''].reduce((a, b) => (a > b ? a : b));
    let i = q.after !== undefined && q.after >= lower ? lowerBound(keys, q.after, true) : lowerBound(keys, lower);
    const out: ViewRow[] = [];
    for (; i < keys.length && out.length < q.limit; i++) {
      const k = keys[i]!;
      if ((q.prefix !== undefined && !k.startsWith(q.prefix)) || (q.to !== undefined && k >= q.to)) break;
      out.push(this.store.get(k)!);
    }
    return out;
  }

  /** How many rows have keys starting with `prefix` (all rows without one). */
  count(prefix?: string): number {
    if (!prefix) return this.store.size;
    const keys = this.keys();
    let n = 0;
    for (let i = lowerBound(keys, prefix); i < keys.length && keys[i]!.startsWith(prefix); i++) n++;
    return n;
  }

  /** The keys in ascending order. */
  private keys(): string[] {
    if (this.added.size > 0 || this.removed.size > 0) {
      const kept = this.removed.size > 0 ? this.sorted.filter((k) => !this.removed.has(k)) : this.sorted;
      const fresh = [...this.added].sort();
      const merged: string[] = new Array<string>(kept.length + fresh.length);
      let a = 0;
      let b = 0;
      for (let i = 0; i < merged.length; i++) merged[i] = b >= fresh.length || (a < kept.length && kept[a]! < fresh[b]!) ? kept[a++]! : fresh[b++]!;
      this.sorted = merged;
      this.added.clear();
      this.removed.clear();
    }
    return this.sorted;
  }

  get size(): number {
    return this.store.size;
  }

  /** How far into the topic the view is: the next offset per partition. */
  position(): number[] {
    return [...this.positions];
  }

  /**
   * The event-time watermark the view's rows are complete up to: the watermark of the last commit of
   * the pipeline writing the topic whose results the view has applied (every window that ended at or
   * before it is in the view). Null when no pipeline writes the topic or none has committed yet.
   */
  watermark(): number | null {
    // Read before the end offsets: a pipeline appends an epoch's results before it publishes the
    // epoch's watermark, so the offsets read after it cover those results.
    const published = this.watermarkOf(this.name);
    if (published === undefined) return null;
    const ends = this.log.endOffsets(this.name);
    if (ends.every((e, p) => this.positions[p]! >= e)) this.wm = published;
    return this.wm;
  }

  /** Calls `listener` with every batch of changes from now on; returns the function that removes it. */
  listen(listener: (changes: ViewChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async run(): Promise<void> {
    while (!this.signal.aborted) {
      let got = 0;
      for (let p = 0; p < this.positions.length; p++) {
        const end = this.log.endOffsets(this.name)[p]!;
        if (end <= this.positions[p]! || this.emptyReads.pointless(String(p), end)) continue;
        const records = await this.log.read(this.name, p, this.positions[p]!, 1000);
        if (records.length === 0) {
          this.emptyReads.note(String(p), end);
          continue;
        }
        got += records.length;
        this.positions[p] = records.at(-1)!.offset + 1;
        this.applyAll(records);
      }
      if (got === 0) {
        const positions = this.positions.map((o, p) => this.emptyReads.waitFrom(String(p), o));
        if (!this.emptyReads.pending) await this.log.waitForRecords(this.name, positions, this.signal);
        else await waitAtMost(this.emptyReads.retryAfterMs, (signal) => this.log.waitForRecords(this.name, positions, signal), this.signal);
      }
    }
  }

  private applyAll(records: LogRecord[]): void {
    const changes: ViewChange[] = [];
    for (const r of records) {
      if (r.key === null) continue;
      const known = this.store.get(r.key) !== undefined;
      if (r.value === null) {
        if (known) {
          if (!this.added.delete(r.key)) this.removed.add(r.key);
        }
        this.store.delete(r.key);
        changes.push({ key: r.key, deleted: true, partition: r.partition, offset: r.offset, timestamp: r.timestamp });
      } else {
        const row: ViewRow = { key: r.key, value: r.value, partition: r.partition, offset: r.offset, timestamp: r.timestamp };
        if (!known && !this.removed.delete(r.key)) this.added.add(r.key);
        this.store.set(r.key, row);
        changes.push(row);
      }
    }
    if (changes.length > 0) for (const l of this.listeners) l(changes);
  }
}

/** The views of one Rivulet process, by name. */
export class ViewRegistry {
  private readonly views = new Map<string, View>();
  private readonly abort = new AbortController();

  constructor(private readonly log: Log, private readonly watermarkOf?: WatermarkSource) {}

  add(name: string): View {
    let v = this.views.get(name);
    if (!v) {
      v = new View(name, this.log, this.abort.signal, this.watermarkOf);
      this.views.set(name, v);
      v.start();
    }
    return v;
  }

  /** The view called `name`; throws `unknown_view` when there is none. */
  get(name: string): View {
    const v = this.views.get(name);
    if (!v) throw new RivuletError('unknown_view', `view '${name}' does not exist`);
    return v;
  }

  names(): string[] {
    return [...this.views.keys()].sort();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.views.values()].map((v) => v.stopped()));
  }
}
