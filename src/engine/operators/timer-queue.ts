import type { JsonValue } from '../../core/record.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';

/** A timer: when, for which key (its string form), and the key itself. */
export interface Timer {
  time: number;
  keyString: string;
  key: unknown;
}

/**
 * Timers of one domain (event or processing time), per key: they come out in time order, at most one
 * per (time, key), and can be cancelled. Operators keep their timers here: session windows (when a key's
 * sessions fire or close), joins (when buffered events expire), `process` functions.
 */
export interface TimerIndex {
  /** Adds a timer; false when it was already there. */
  add(time: number, keyString: string, key: unknown): boolean;
  /** Cancels a timer; false when there was none. */
  cancel(time: number, keyString: string): boolean;
  /** Removes and returns the earliest timer at or before `upTo` (of one time, the smallest key string first). */
  pop(upTo: number): Timer | undefined;
  /** No timer is pending. */
  readonly empty: boolean;
  /** What the operator's checkpoint must hold to restore the timers (with the state backend's tables). */
  snapshot(): JsonValue;
  restore(snapshot: JsonValue): void;
}

const timerId = (time: number, keyString: string) => `${time}\u0000${keyString}`;

/** Timer order: by time, then by key string, so that the order never depends on when timers were added. */
function before(a: [number, string], b: [number, string]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * Timers in the heap: a binary min-heap with lazy deletion, `pending` being the source of truth; a
 * checkpoint holds them all. For the memory state backend.
 */
export class TimerQueue implements TimerIndex {
  private heap: [time: number, keyString: string][] = [];
  /** Timer id → the key. */
  private readonly pending = new Map<string, unknown>();

  get size(): number {
    return this.pending.size;
  }

  get empty(): boolean {
    return this.pending.size === 0;
  }

  add(time: number, keyString: string, key: unknown): boolean {
    const id = timerId(time, keyString);
    if (this.pending.has(id)) return false;
    this.pending.set(id, key);
    const h = this.heap;
    const timer: [number, string] = [time, keyString];
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, h[parent]!)) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
    return true;
  }

  cancel(time: number, keyString: string): boolean {
    return this.pending.delete(timerId(time, keyString));
  }

  pop(upTo: number): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0]![0] <= upTo) {
      const [time, keyString] = this.removeTop();
      const id = timerId(time, keyString);
      if (!this.pending.has(id)) continue;
      const key = this.pending.get(id);
      this.pending.delete(id);
      return { time, keyString, key };
    }
    return undefined;
  }

  private removeTop(): [number, string] {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  /** Pending timers as `[time, keyString, key]` (`[time, keyString]` when the key is `undefined`). */
  snapshot(): JsonValue {
    const out: unknown[][] = [];
    for (const [id, key] of this.pending) {
      const at = id.indexOf('\u0000');
      const timer: unknown[] = [Number(id.slice(0, at)), id.slice(at + 1)];
      if (key !== undefined) timer.push(key);
      out.push(timer);
    }
    return out as JsonValue;
  }

  restore(snapshot: JsonValue): void {
    this.heap = [];
    this.pending.clear();
    for (const [t, k, key] of snapshot as [number, string, unknown][]) this.add(t, k, key);
  }
}

/** First index in `timers` (from `lo`) whose timer is not before `t`. */
function lowerBound(timers: Timer[], lo: number, t: [number, string]): number {
  let hi = timers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const m = timers[mid]!;
    if (before([m.time, m.keyString], t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Timers in a table of the state backend (LMDB: on disk, checkpoints hold what changed): one small row
 * per timer, keyed `bucket NUL time NUL keyString`, where a bucket is `width` ms of time. The heap holds
 * only how many timers each bucket has and, once the earliest bucket has a timer due, its timers in
 * order (read with one prefix scan). Timers of millions of keys cost almost no memory, and a watermark
 * step with nothing due reads nothing.
 */
export class TableTimers implements TimerIndex {
  private readonly table: StateTable<unknown>;
  /** Timers per bucket; `order` has the buckets ascending. */
  private readonly counts = new Map<number, number>();
  private order: number[] = [];
  /** The earliest bucket's timers in order (from `next` on), read when it first has one due. */
  private head: { bucket: number; timers: Timer[]; next: number } | undefined;

  constructor(state: StateBackend, name: string, private readonly width: number) {
    this.table = state.table(name);
  }

  get empty(): boolean {
    return this.order.length === 0;
  }

  private bucketOf(time: number): number {
    return Math.floor(time / this.width);
  }

  private static row(bucket: number, time: number, keyString: string): string {
    return `${bucket}\u0000${time}\u0000${keyString}`;
  }

  add(time: number, keyString: string, key: unknown): boolean {
    const b = this.bucketOf(time);
    const row = TableTimers.row(b, time, keyString);
    if (this.table.get(row) !== undefined) return false;
    // Wrapped: a row's value is never null (a checkpoint's null is a deletion), and `undefined` survives.
    this.table.put(row, key === undefined ? [] : [key]);
    this.count(b, 1);
    if (this.head?.bucket === b) {
      const h = this.head;
      h.timers.splice(lowerBound(h.timers, h.next, [time, keyString]), 0, { time, keyString, key });
    }
    return true;
  }

  cancel(time: number, keyString: string): boolean {
    const b = this.bucketOf(time);
    const row = TableTimers.row(b, time, keyString);
    if (this.table.get(row) === undefined) return false;
    this.table.delete(row);
    if (this.head?.bucket === b) {
      const h = this.head;
      const i = lowerBound(h.timers, h.next, [time, keyString]);
      if (i < h.timers.length && h.timers[i]!.time === time && h.timers[i]!.keyString === keyString) h.timers.splice(i, 1);
    }
    this.count(b, -1);
    return true;
  }

  pop(upTo: number): Timer | undefined {
    while (this.order.length > 0 && this.order[0]! * this.width <= upTo) {
      const b = this.order[0]!;
      if (this.head?.bucket !== b) this.head = { bucket: b, timers: this.read(b), next: 0 };
      const h = this.head;
      if (h.next >= h.timers.length) {
        // Nothing left in the bucket (its count says otherwise only if the table lost rows).
        this.counts.delete(b);
        this.order.shift();
        this.head = undefined;
        continue;
      }
      const t = h.timers[h.next]!;
      if (t.time > upTo) return undefined;
      h.next++;
      this.table.delete(TableTimers.row(b, t.time, t.keyString));
      this.count(b, -1);
      return t;
    }
    return undefined;
  }

  /** A bucket's timers, in order. */
  private read(b: number): Timer[] {
    const prefix = `${b}\u0000`;
    const timers: Timer[] = [];
    for (const [row, key] of this.table.scan(prefix)) {
      const at = row.indexOf('\u0000', prefix.length);
      const wrapped = key as unknown[];
      timers.push({ time: Number(row.slice(prefix.length, at)), keyString: row.slice(at + 1), key: wrapped.length > 0 ? wrapped[0] : undefined });
    }
    return timers.sort((x, y) => (before([x.time, x.keyString], [y.time, y.keyString]) ? -1 : 1));
  }

  private count(b: number, delta: number): void {
    const n = (this.counts.get(b) ?? 0) + delta;
    if (n > 0) {
      if (!this.counts.has(b)) {
        let i = this.order.length;
        while (i > 0 && this.order[i - 1]! > b) i--;
        this.order.splice(i, 0, b);
      }
      this.counts.set(b, n);
      return;
    }
    this.counts.delete(b);
    const i = this.order.indexOf(b);
    if (i >= 0) this.order.splice(i, 1);
    if (this.head?.bucket === b) this.head = undefined;
  }

  /** How many timers each non-empty bucket has; the timers are in the table. */
  snapshot(): JsonValue {
    return { buckets: [...this.counts] };
  }

  restore(snapshot: JsonValue): void {
    this.head = undefined;
    this.counts.clear();
    this.order = [];
    const s = snapshot as { buckets?: [number, number][] } | [number, string, unknown][];
    if (!Array.isArray(s)) {
      for (const [b, n] of s.buckets ?? []) this.count(b, n);
      return;
    }
    // A checkpoint of timers in the heap (`TimerQueue`): they move into the table.
    for (const [t, k, key] of s) this.add(t, k, key);
  }
}

/**
 * The timer index for an operator's state backend: in the heap for the memory backend (checkpoints hold
 * every timer anyway), in a table for LMDB. `scale` is how far ahead the operator's timers usually lie
 * (a session gap, a join's bounds): buckets are a sixteenth of it, at most 1 s, so that the pending
 * timers spread over a few dozen buckets and the one read into memory when due holds a small share.
 */
export function timerIndex(state: StateBackend | undefined, name: string, scale: number): TimerIndex {
  const width = Math.min(1000, Math.max(1, Math.floor(scale / 16)));
  return state?.kind === 'lmdb' ? new TableTimers(state, name, width) : new TimerQueue();
}
