import type { JsonValue } from '../../core/record.js';
import { keyIdBefore, keyIdOfString, keyIdString, type KeyId } from '../../state/key-id.js';
import type { StateBackend, StateCodec, StateTable } from '../../state/state-backend.js';
import { TimerRun } from './timer-run.js';

/** A timer: when, for which key (its key id), and the key itself. */
export interface Timer {
  time: number;
  id: KeyId;
  key: unknown;
}

/**
 * When rows of an operator are next due, where the row itself says when (`scheduledAt`, a keyed-state
 * entry's `cleanupAt`): timers come out in time order (of one time, the smallest key string first, see
 * `keyIdBefore`), but one may be there twice and a timer the row no longer wants stays until it comes
 * out — where it costs the operator at most a look at the row. Without a promise of one timer per
 * (time, key), the heap keeps no index by key: adding and taking a timer costs no map operation.
 */
export interface TimerSchedule {
  /** Adds a timer (also when the same one is there). */
  add(time: number, id: KeyId, key: unknown): void;
  /** Removes and returns the earliest timer at or before `upTo`. */
  pop(upTo: number): Timer | undefined;
  /** No timer is pending. */
  readonly empty: boolean;
  /** What the operator's checkpoint must hold to restore the timers (with the state backend's tables). */
  snapshot(): JsonValue;
  restore(snapshot: JsonValue): void;
}

/**
 * Timers of one domain (event or processing time), per key: they come out in time order, at most one
 * per (time, key), and can be cancelled — the timers of `process` functions, and of joins that move a
 * row's timer earlier.
 */
export interface TimerIndex extends TimerSchedule {
  /** Adds a timer; false when it was already there. */
  add(time: number, id: KeyId, key: unknown): boolean;
  /** Cancels a timer; false when there was none. */
  cancel(time: number, id: KeyId): boolean;
  /** No pending timer is earlier than this (Infinity: none is pending): a bound, not always a timer's time. */
  readonly lowerBound: number;
  /**
   * The time of key `id`'s earliest timer (Infinity: it has none), or `undefined` where that would take
   * reading every timer (timers on disk): the caller then keeps its own index, built with {@link list}.
   */
  earliestOf(id: KeyId): number | undefined;
  /** Every pending timer, in no particular order. */
  list(): Iterable<Timer>;
}

const timerId = (time: number, id: KeyId) => `${time}\u0000${id}`;

/** Timer order: by time, then by key string, so that the order never depends on when timers were added. */
function before(a: [number, KeyId], b: [number, KeyId]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && keyIdBefore(a[1], b[1]));
}

/** A timer in the heap; `live` turns false when it is cancelled (it leaves the heap when it reaches the top). */
interface HeapTimer extends Timer {
  live: boolean;
}

/**
 * Timers in memory: a {@link TimerSchedule} for the memory state backend (a checkpoint holds them all),
 * and the timers of {@link TimerQueue}. Timers added in time order wait in a queue ({@link TimerRun}),
 * the others in a binary min-heap; the earliest comes from whichever holds it.
 */
export class TimerHeap implements TimerSchedule {
  protected heap: HeapTimer[] = [];
  private readonly run = new TimerRun<HeapTimer>();
  /**
   * `times[i]` is `heap[i].time`: a step down the heap compares two children's times, which sit side
   * by side here, where reading them from the timers would touch two objects anywhere in memory.
   */
  private times = new Float64Array(64);
  /**
   * `ids[i]` is `heap[i].id`, for the same reason: timers of one time (a watermark step's worth, or
   * every key written in one millisecond with the same TTL) are ordered by key, and a numeric id read
   * here costs no visit to the timer object.
   */
  private ids: KeyId[] = [];
  protected count = 0;

  get size(): number {
    return this.count;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  add(time: number, id: KeyId, key: unknown): boolean {
    this.count++;
    this.push({ time, id, key, live: true });
    return true;
  }

  /** A timer leaves: cancelled, or taken by `pop`. */
  protected unlist(timer: HeapTimer): void {
    timer.live = false;
    this.count--;
  }

  protected push(timer: HeapTimer): void {
    if (this.run.accepts(timer.time)) this.run.push(timer);
    else this.heapPush(timer);
  }

  private heapPush(timer: HeapTimer): void {
    const { time, id } = timer;
    const h = this.heap;
    const ids = this.ids;
    let i = h.length;
    h.push(timer);
    ids.push(id);
    if (i >= this.times.length) {
      const grown = new Float64Array(2 * this.times.length);
      grown.set(this.times);
      this.times = grown;
    }
    const times = this.times;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent]!;
      const pid = ids[parent]!;
      // Timer order: by time, then by key string.
      if (time > pt || (time === pt && !keyIdBefore(id, pid))) break;
      h[i] = h[parent]!;
      times[i] = pt;
      ids[i] = pid;
      i = parent;
    }
    h[i] = timer;
    times[i] = time;
    ids[i] = id;
  }

  pop(upTo: number): Timer | undefined {
    for (let t = this.first(); t !== undefined && t.time <= upTo; t = this.first()) {
      this.take(t);
      if (!t.live) continue;
      this.unlist(t);
      // The timer itself: it has left the heap, and its `live` flag is false from now on.
      return t;
    }
    return undefined;
  }

  /** The earliest timer (live or cancelled) of the queue and the heap, left in place. */
  private first(): HeapTimer | undefined {
    const r = this.run.front();
    if (this.heap.length === 0) return r;
    if (r === undefined) return this.heap[0];
    const ht = this.times[0]!;
    return r.time < ht || (r.time === ht && keyIdBefore(this.run.frontId, this.ids[0]!)) ? r : this.heap[0];
  }

  /** Removes `t`, which {@link first} gave. */
  private take(t: HeapTimer): void {
    if (t === this.heap[0]) this.removeTop();
    else this.run.shift();
  }

  /** The earliest timer's time, or a cancelled one's before it (Infinity: empty). */
  get lowerBound(): number {
    const r = this.run.frontTime;
    return this.heap.length > 0 && this.times[0]! < r ? this.times[0]! : r;
  }

  *list(): Iterable<Timer> {
    for (const t of this.all()) if (t.live) yield { time: t.time, id: t.id, key: t.key };
  }

  /** Every timer held, cancelled ones too. */
  private *all(): Iterable<HeapTimer> {
    yield* this.heap;
    yield* this.run;
  }

  /** The earliest pending timer, left in place. */
  peek(): [time: number, id: KeyId] | undefined {
    let t = this.first();
    for (; t !== undefined && !t.live; t = this.first()) this.take(t);
    return t === undefined ? undefined : [t.time, t.id];
  }

  private removeTop(): HeapTimer {
    const h = this.heap;
    const times = this.times;
    const ids = this.ids;
    const top = h[0]!;
    const last = h.pop()!;
    const lastId = ids.pop()!;
    const n = h.length;
    if (n > 0) {
      const lt = times[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        let m = l;
        let mt = times[l]!;
        let mid = ids[l]!;
        const r = l + 1;
        if (r < n) {
          const rt = times[r]!;
          const rid = ids[r]!;
          if (rt < mt || (rt === mt && keyIdBefore(rid, mid))) {
            m = r;
            mt = rt;
            mid = rid;
          }
        }
        if (mt > lt || (mt === lt && !keyIdBefore(mid, lastId))) break;
        h[i] = h[m]!;
        times[i] = mt;
        ids[i] = mid;
        i = m;
      }
      h[i] = last;
      times[i] = lt;
      ids[i] = lastId;
    }
    return top;
  }

  /** Pending timers as `[time, key string, key]` (`[time, key string]` when the key is `undefined`). */
  snapshot(): JsonValue {
    const out: unknown[][] = [];
    for (const t of this.all()) {
      if (!t.live) continue;
      const timer: unknown[] = [t.time, keyIdString(t.id)];
      if (t.key !== undefined) timer.push(t.key);
      out.push(timer);
    }
    return out as JsonValue;
  }

  restore(snapshot: JsonValue): void {
    this.clear();
    for (const [t, k, key] of snapshot as [number, string, unknown][]) this.add(t, keyIdOfString(k), key);
  }

  protected clear(): void {
    this.heap = [];
    this.ids = [];
    this.run.clear();
    this.count = 0;
  }
}

/**
 * Timers in the heap with, per key id, its live timers (most keys have one; a key with several keeps
 * them in a map by time), so that keeping one timer per (time, key) and cancelling one are map lookups
 * with no string built per timer; a cancelled timer leaves the heap when it reaches the top. For the
 * memory state backend.
 */
export class TimerQueue extends TimerHeap implements TimerIndex {
  /** Key id → its live timer, or its live timers by time when it has several. */
  private readonly byKey = new Map<KeyId, HeapTimer | Map<number, HeapTimer>>();

  private find(time: number, id: KeyId): HeapTimer | undefined {
    const t = this.byKey.get(id);
    if (t === undefined) return undefined;
    if (t instanceof Map) return t.get(time);
    return t.time === time ? t : undefined;
  }

  protected override unlist(timer: HeapTimer): void {
    super.unlist(timer);
    const t = this.byKey.get(timer.id)!;
    if (!(t instanceof Map)) {
      this.byKey.delete(timer.id);
      return;
    }
    t.delete(timer.time);
    if (t.size === 0) this.byKey.delete(timer.id);
  }

  override add(time: number, id: KeyId, key: unknown): boolean {
    const listed = this.byKey.get(id);
    let timer: HeapTimer;
    if (listed === undefined) {
      timer = { time, id, key, live: true };
      this.byKey.set(id, timer);
    } else if (listed instanceof Map) {
      if (listed.has(time)) return false;
      timer = { time, id, key, live: true };
      listed.set(time, timer);
    } else {
      if (listed.time === time) return false;
      timer = { time, id, key, live: true };
      this.byKey.set(id, new Map([[listed.time, listed], [time, timer]]));
    }
    this.count++;
    this.push(timer);
    return true;
  }

  cancel(time: number, id: KeyId): boolean {
    const timer = this.find(time, id);
    if (timer === undefined) return false;
    this.unlist(timer);
    return true;
  }

  earliestOf(id: KeyId): number {
    const t = this.byKey.get(id);
    if (t === undefined) return Infinity;
    if (!(t instanceof Map)) return t.time;
    let first = Infinity;
    for (const time of t.keys()) if (time < first) first = time;
    return first;
  }

  protected override clear(): void {
    super.clear();
    this.byKey.clear();
  }
}

/** A bucket read into memory: its timers in order, and what changed since. */
interface Head {
  sorted: Timer[];
  next: number;
  /** Ids of `sorted` timers cancelled since the read. */
  cancelled: Set<string>;
  /** Timers added to the bucket since the read. */
  added: TimerQueue;
}

/**
 * Timers in a table of the state backend (LMDB: on disk, checkpoints hold what changed): one small row
 * per timer, keyed `bucket NUL time NUL id`, where a bucket is `width` ms of time. The heap holds
 * only how many timers each bucket has and, once a bucket has a timer due, its timers in order (read
 * with one prefix scan; later adds and cancels kept beside them). Timers of millions of keys cost almost
 * no memory, and a watermark step with nothing due reads nothing.
 */
export class TableTimers implements TimerIndex {
  private readonly table: StateTable<unknown>;
  /** Timers per bucket; `order` has the buckets ascending. */
  private readonly counts = new Map<number, number>();
  private order: number[] = [];
  /** Buckets read into memory (the earliest, and any that was earliest before an earlier one got timers). */
  private readonly heads = new Map<number, Head>();

  constructor(state: StateBackend, name: string, private width: number) {
    this.table = state.table(name);
  }

  get empty(): boolean {
    return this.order.length === 0;
  }

  /** The start of the earliest bucket with timers. */
  get lowerBound(): number {
    return this.order.length > 0 ? this.order[0]! * this.width : Infinity;
  }

  /** Unknown without reading every bucket: the timers are on disk, not indexed by key. */
  earliestOf(): undefined {
    return undefined;
  }

  list(): Iterable<Timer> {
    return [...this.order].flatMap((b) => {
      const h = this.heads.get(b);
      if (h === undefined) return this.read(b);
      // A bucket read into memory: what is left of it, and what was added since.
      return [...h.sorted.slice(h.next).filter((t) => !h.cancelled.has(timerId(t.time, t.id))), ...h.added.list()];
    });
  }

  private bucketOf(time: number): number {
    return Math.floor(time / this.width);
  }

  private static row(bucket: number, time: number, id: KeyId): string {
    return `${bucket}\u0000${time}\u0000${id}`;
  }

  add(time: number, id: KeyId, key: unknown): boolean {
    const b = this.bucketOf(time);
    const row = TableTimers.row(b, time, id);
    if (this.table.get(row) !== undefined) return false;
    // Wrapped: a row's value is never null (a checkpoint's null is a deletion), and `undefined` survives.
    this.table.put(row, key === undefined ? [] : [key]);
    this.count(b, 1);
    this.heads.get(b)?.added.add(time, id, key);
    return true;
  }

  cancel(time: number, id: KeyId): boolean {
    const b = this.bucketOf(time);
    const row = TableTimers.row(b, time, id);
    if (this.table.get(row) === undefined) return false;
    this.table.delete(row);
    const h = this.heads.get(b);
    if (h && !h.added.cancel(time, id)) h.cancelled.add(timerId(time, id));
    this.count(b, -1);
    return true;
  }

  pop(upTo: number): Timer | undefined {
    while (this.order.length > 0 && this.order[0]! * this.width <= upTo) {
      const b = this.order[0]!;
      let h = this.heads.get(b);
      if (!h) this.heads.set(b, (h = { sorted: this.read(b), next: 0, cancelled: new Set(), added: new TimerQueue() }));
      while (h.next < h.sorted.length && h.cancelled.size > 0) {
        const t = h.sorted[h.next]!;
        if (!h.cancelled.delete(timerId(t.time, t.id))) break;
        h.next++;
      }
      const fromRead = h.next < h.sorted.length ? h.sorted[h.next]! : undefined;
      const fromAdded = h.added.peek();
      if (!fromRead && !fromAdded) {
        // Nothing left in the bucket (its count says otherwise only if the table lost rows).
        this.drop(b);
        continue;
      }
      let t: Timer;
      if (fromRead && (!fromAdded || before([fromRead.time, fromRead.id], fromAdded))) {
        if (fromRead.time > upTo) return undefined;
        h.next++;
        t = fromRead;
      } else {
        t = h.added.pop(upTo)!;
        if (!t) return undefined;
      }
      this.table.delete(TableTimers.row(b, t.time, t.id));
      this.count(b, -1);
      return t;
    }
    return undefined;
  }

  /** A bucket's timers, in order. */
  private read(b: number): Timer[] {
    const prefix = `${b}\u0000`;
    const timers: Timer[] = [];
    for (const [rowId, key] of this.table.scan(prefix)) {
      const row = keyIdString(rowId); // a composite key: always a string
      const at = row.indexOf('\u0000', prefix.length);
      const wrapped = key as unknown[];
      timers.push({ time: Number(row.slice(prefix.length, at)), id: keyIdOfString(row.slice(at + 1)), key: wrapped.length > 0 ? wrapped[0] : undefined });
    }
    return timers.sort((x, y) => (before([x.time, x.id], [y.time, y.id]) ? -1 : 1));
  }

  private count(b: number, delta: number): void {
    const n = (this.counts.get(b) ?? 0) + delta;
    if (n <= 0) {
      this.drop(b);
      return;
    }
    if (!this.counts.has(b)) {
      let i = this.order.length;
      while (i > 0 && this.order[i - 1]! > b) i--;
      this.order.splice(i, 0, b);
    }
    this.counts.set(b, n);
  }

  private drop(b: number): void {
    this.counts.delete(b);
    this.heads.delete(b);
    const i = this.order.indexOf(b);
    if (i >= 0) this.order.splice(i, 1);
  }

  /** The bucket width and how many timers each non-empty bucket has; the timers are in the table. */
  snapshot(): JsonValue {
    return { width: this.width, buckets: [...this.counts] };
  }

  restore(snapshot: JsonValue): void {
    this.heads.clear();
    this.counts.clear();
    this.order = [];
    const s = snapshot as { width?: number; buckets?: [number, number][] } | [number, string, unknown][];
    if (!Array.isArray(s)) {
      // The rows are where the checkpointing run put them: its width stays.
      if (s.width !== undefined) this.width = s.width;
      for (const [b, n] of s.buckets ?? []) this.count(b, n);
      return;
    }
    // A checkpoint of timers in the heap (`TimerQueue`): they move into the table.
    for (const [t, k, key] of s) this.add(t, keyIdOfString(k), key);
  }
}

/** A state row that records the time of its one timer (Infinity: none). */
export interface ScheduledRow {
  scheduledAt: number;
}

/**
 * The codec of a row that records its timer: as JSON, with no timer (`Infinity`, which JSON lacks) as
 * `null`; the other fields must be JSON already.
 */
export function scheduledRowCodec<R extends ScheduledRow>(): StateCodec<R> {
  return {
    encode: (row) => ({ ...row, scheduledAt: row.scheduledAt === Infinity ? null : row.scheduledAt }) as unknown as JsonValue,
    decode: (json) => {
      const o = json as unknown as Omit<R, 'scheduledAt'> & { scheduledAt: number | null };
      return { ...o, scheduledAt: o.scheduledAt ?? Infinity } as unknown as R;
    },
  };
}

const NOTHING_DUE: readonly [KeyId, never][] = Object.freeze([]);

/**
 * The rows whose timers are due at `upTo`, each once, with `scheduledAt` reset: the operator handles each
 * and schedules it again (later than `upTo`) or deletes it. A row records the one timer it wants; a
 * stale one (the row was re-scheduled later, or twice at one time) only brings a visit that finds
 * nothing due, so a watermark step visits the rows that are due and few others.
 */
export function dueRows<R extends ScheduledRow>(timers: TimerSchedule, rows: StateTable<R>, upTo: number): readonly [KeyId, R][] {
  let t = timers.pop(upTo);
  // Most watermark steps have nothing due: they allocate nothing.
  if (t === undefined) return NOTHING_DUE;
  const due: [KeyId, R][] = [];
  // Of the others, most have one timer due: the keys seen (each is visited once) are kept from the second timer on.
  let firstId: KeyId | undefined;
  let seen: Set<KeyId> | undefined;
  for (; t !== undefined; t = timers.pop(upTo)) {
    if (firstId === undefined) firstId = t.id;
    else {
      seen ??= new Set([firstId]);
      if (seen.has(t.id)) continue;
      seen.add(t.id);
    }
    const row = rows.get(t.id);
    if (!row) continue;
    row.scheduledAt = Infinity;
    due.push([t.id, row]);
  }
  return due;
}

/**
 * The timer index for an operator's state backend: in the heap for the memory backend (checkpoints hold
 * every timer anyway), in a table for LMDB. `scale` is how far ahead the operator's timers usually lie
 * (a session gap, a join's bounds): buckets are a sixteenth of it, at most 1 s, so that the pending
 * timers spread over a few dozen buckets and the one read into memory when due holds a small share.
 */
export function timerIndex(state: StateBackend | undefined, name: string, scale: number): TimerIndex {
  return state?.kind === 'lmdb' ? new TableTimers(state, name, bucketWidth(scale)) : new TimerQueue();
}

/** A {@link TimerSchedule} for an operator's state backend, as {@link timerIndex} chooses (a table's timers are one per time and key anyway). */
export function timerSchedule(state: StateBackend | undefined, name: string, scale: number): TimerSchedule {
  return state?.kind === 'lmdb' ? new TableTimers(state, name, bucketWidth(scale)) : new TimerHeap();
}

function bucketWidth(scale: number): number {
  return Math.min(1000, Math.max(1, Math.floor(scale / 16)));
}
