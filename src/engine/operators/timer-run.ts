import { keyIdBefore, type KeyId } from '../../state/key-id.js';

/** What the queue orders by: a timer's time and key id. */
interface Timed {
  time: number;
  id: KeyId;
}

/** Above this many timers of one time, a group is sorted by `Array.prototype.sort` rather than by insertion. */
const INSERTION_SORT_MAX = 16;

/**
 * Timers added in time order, kept in a queue rather than a heap: adding one and taking the earliest
 * cost O(1) and read memory in order. Most timers come in that order — at an event's time plus a
 * constant (a state's TTL, a session's gap), at the end of the window an event fell in — so a heap
 * takes only the others (see `TimerHeap`). Timers of one time leave in key order (`keyIdBefore`), as
 * from a heap: a group of one time is sorted when it reaches the front, and a timer that joins the
 * front group takes its place in it.
 */
export class TimerRun<T extends Timed> {
  private items: (T | undefined)[] = [];
  /** `times[i]` is `items[i].time`, and `ids[i]` its id: read without visiting the timers. */
  private times = new Float64Array(64);
  private ids: KeyId[] = [];
  /** The queue is `items[first..]`. */
  private first = 0;
  /** `items[first..sorted)` is the front group (every queued timer of the front's time), in key order. */
  private sorted = 0;

  /** Whether a timer at `time` may join the queue: no queued timer is later. */
  accepts(time: number): boolean {
    const n = this.items.length;
    return n === this.first || time >= this.times[n - 1]!;
  }

  /** Queues a timer that {@link accepts} took. */
  push(t: T): void {
    let n = this.items.length;
    if (this.first >= 1024 && 2 * this.first >= n) n = this.compact();
    if (n >= this.times.length) {
      const grown = new Float64Array(2 * this.times.length);
      grown.set(this.times);
      this.times = grown;
    }
    const { items, ids } = this;
    items.push(t);
    ids.push(t.id);
    this.times[n] = t.time;
    if (this.sorted === n && n > this.first && this.times[n - 1] === t.time) {
      // It joins the sorted front group (all of whose timers have its time): moved to its key's place.
      let i = n;
      while (i > this.first && keyIdBefore(t.id, ids[i - 1]!)) {
        items[i] = items[i - 1];
        ids[i] = ids[i - 1]!;
        i--;
      }
      items[i] = t;
      ids[i] = t.id;
      this.sorted = n + 1;
    }
  }

  /** The earliest queued timer's time (Infinity: none queued). */
  get frontTime(): number {
    return this.first < this.items.length ? this.times[this.first]! : Infinity;
  }

  /** The earliest queued timer — of its time, the one with the smallest key — or undefined. */
  front(): T | undefined {
    if (this.first >= this.items.length) return undefined;
    if (this.sorted <= this.first) this.sortFront();
    return this.items[this.first];
  }

  /** The id of the {@link front} timer (call `front` first). */
  get frontId(): KeyId {
    return this.ids[this.first]!;
  }

  /** Removes the {@link front} timer. */
  shift(): void {
    this.items[this.first++] = undefined;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.first; i < this.items.length; i++) yield this.items[i]!;
  }

  clear(): void {
    this.items = [];
    this.ids = [];
    this.first = 0;
    this.sorted = 0;
  }

  /** Sorts the group of the front's time by key. */
  private sortFront(): void {
    const { items, ids, times, first } = this;
    const t0 = times[first]!;
    let end = first + 1;
    while (end < items.length && times[end] === t0) end++;
    if (end - first <= INSERTION_SORT_MAX) {
      for (let i = first + 1; i < end; i++) {
        const item = items[i];
        const id = ids[i]!;
        let j = i;
        while (j > first && keyIdBefore(id, ids[j - 1]!)) {
          items[j] = items[j - 1];
          ids[j] = ids[j - 1]!;
          j--;
        }
        items[j] = item;
        ids[j] = id;
      }
    } else {
      const group = items.slice(first, end) as T[];
      group.sort((a, b) => (keyIdBefore(a.id, b.id) ? -1 : keyIdBefore(b.id, a.id) ? 1 : 0));
      for (let i = 0; i < group.length; i++) {
        items[first + i] = group[i];
        ids[first + i] = group[i]!.id;
      }
    }
    this.sorted = end;
  }

  /** Drops the taken timers from the front of the arrays; returns the queue's new length. */
  private compact(): number {
    const { first } = this;
    const n = this.items.length;
    this.items.splice(0, first);
    this.ids.splice(0, first);
    this.times.copyWithin(0, first, n);
    this.sorted = Math.max(0, this.sorted - first);
    this.first = 0;
    return n - first;
  }
}
