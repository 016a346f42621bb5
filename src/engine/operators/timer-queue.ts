import type { JsonValue } from '../../core/record.js';
import type { StateBackend, StateCodec, StateTable } from '../../state/state-backend.js';

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

  /** Pending timers as `[time, keyString, key]`. */
  snapshot(): JsonValue {
    const out: [number, string, unknown][] = [];
    for (const [id, key] of this.pending) {
      const at = id.indexOf('\u0000');
      out.push([Number(id.slice(0, at)), id.slice(at + 1), key]);
    }
    return out as JsonValue;
  }

  restore(snapshot: JsonValue): void {
    this.heap = [];
    this.pending.clear();
    for (const [t, k, key] of snapshot as [number, string, unknown][]) this.add(t, k, key);
  }
}

/** One bucket's timers: timer id → key. */
type Bucket = Map<string, unknown>;
const bucketCodec: StateCodec<Bucket> = {
  encode: (b) => [...b] as JsonValue,
  decode: (j) => new Map(j as [string, unknown][]),
};

/**
 * Timers in a table of the state backend (LMDB: on disk, checkpoints hold what changed), grouped in
 * buckets of `width` ms of time, one table entry per bucket. The heap holds only the numbers of the
 * non-empty buckets and the sorted timers of the earliest one, so timers of millions of keys cost
 * almost no memory, and finding what is due reads single entries, never a range.
 */
export class TableTimers implements TimerIndex {
  private readonly table: StateTable<Bucket>;
  /** Numbers of the buckets holding timers, ascending. */
  private buckets: number[] = [];
  /** The earliest bucket's timers by time (from `next` on), read when it first has one due. */
  private head: { bucket: number; timers: [time: number, keyString: string][]; next: number } | undefined;

  constructor(state: StateBackend, name: string, private readonly width: number) {
    this.table = state.table(name, bucketCodec);
  }

  get empty(): boolean {
    return this.buckets.length === 0;
  }

  private bucketOf(time: number): number {
    return Math.floor(time / this.width);
  }

  add(time: number, keyString: string, key: unknown): boolean {
    const b = this.bucketOf(time);
    const id = timerId(time, keyString);
    let timers = this.table.get(String(b));
    if (timers?.has(id)) return false;
    if (!timers) {
      timers = new Map();
      this.insertBucket(b);
    }
    timers.set(id, key);
    this.table.put(String(b), timers);
    if (this.head?.bucket === b) {
      // Into its place among the head's timers still to come.
      const h = this.head.timers;
      let i = h.length;
      while (i > this.head.next && before([time, keyString], h[i - 1]!)) i--;
      h.splice(i, 0, [time, keyString]);
    }
    return true;
  }

  cancel(time: number, keyString: string): boolean {
    const b = this.bucketOf(time);
    const timers = this.table.get(String(b));
    if (!timers?.delete(timerId(time, keyString))) return false;
    this.store(b, timers);
    return true; // a cancelled timer left in `head` is skipped when reached
  }

  pop(upTo: number): Timer | undefined {
    while (this.buckets.length > 0 && this.buckets[0]! * this.width <= upTo) {
      const b = this.buckets[0]!;
      const timers = this.table.get(String(b));
      if (!timers || timers.size === 0) {
        this.store(b, timers ?? new Map());
        continue;
      }
      if (this.head?.bucket !== b) {
        const sorted: [number, string][] = [];
        for (const id of timers.keys()) {
          const at = id.indexOf('\u0000');
          sorted.push([Number(id.slice(0, at)), id.slice(at + 1)]);
        }
        sorted.sort((x, y) => (before(x, y) ? -1 : 1));
        this.head = { bucket: b, timers: sorted, next: 0 };
      }
      const head = this.head;
      while (head.next < head.timers.length) {
        const [time, keyString] = head.timers[head.next]!;
        const id = timerId(time, keyString);
        if (!timers.has(id)) {
          head.next++;
          continue;
        }
        if (time > upTo) return undefined;
        head.next++;
        const key = timers.get(id);
        timers.delete(id);
        this.store(b, timers);
        return { time, keyString, key };
      }
      // Every timer of the head was cancelled or fired.
      this.store(b, new Map());
    }
    return undefined;
  }

  /** Puts a bucket back, or drops it when empty. */
  private store(b: number, timers: Bucket): void {
    if (timers.size > 0) {
      this.table.put(String(b), timers);
      return;
    }
    this.table.delete(String(b));
    const i = this.buckets.indexOf(b);
    if (i >= 0) this.buckets.splice(i, 1);
    if (this.head?.bucket === b) this.head = undefined;
  }

  private insertBucket(b: number): void {
    let i = this.buckets.length;
    while (i > 0 && this.buckets[i - 1]! > b) i--;
    this.buckets.splice(i, 0, b);
  }

  /** The non-empty buckets; their timers are in the table. */
  snapshot(): JsonValue {
    return this.buckets;
  }

  restore(snapshot: JsonValue): void {
    this.head = undefined;
    this.buckets = [];
    if (Array.isArray(snapshot) && snapshot.every((b) => typeof b === 'number')) {
      for (const b of snapshot) this.insertBucket(b);
      return;
    }
    // A checkpoint of timers in the heap (`TimerQueue`): they move into the table.
    for (const [t, k, key] of snapshot as [number, string, unknown][]) this.add(t, k, key);
  }
}

/**
 * The timer index for an operator's state backend: in the heap for the memory backend (checkpoints hold
 * every timer anyway), in a table of buckets `width` ms wide for LMDB.
 */
export function timerIndex(state: StateBackend | undefined, name: string, width: number): TimerIndex {
  return state?.kind === 'lmdb' ? new TableTimers(state, name, Math.max(1, width)) : new TimerQueue();
}
