/**
 * Timers of one domain (event or processing time), per key: fire in time order, at most one per
 * (time, key), cancellable. A binary min-heap with lazy deletion; `pending` is the source of truth.
 */
export class TimerQueue {
  private heap: [time: number, key: string][] = [];
  private readonly pending = new Set<string>();

  private static id(time: number, key: string): string {
    return `${time}\u0000${key}`;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Adds a timer; false when it was already there. */
  add(time: number, key: string): boolean {
    const id = TimerQueue.id(time, key);
    if (this.pending.has(id)) return false;
    this.pending.add(id);
    const h = this.heap;
    h.push([time, key]);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]![0] <= time) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
    return true;
  }

  /** Cancels a timer; false when there was none. */
  cancel(time: number, key: string): boolean {
    return this.pending.delete(TimerQueue.id(time, key));
  }

  /** Removes and returns the earliest timer at or before `upTo`, skipping cancelled ones. */
  pop(upTo: number): [time: number, key: string] | undefined {
    while (this.heap.length > 0 && this.heap[0]![0] <= upTo) {
      const top = this.removeTop();
      const id = TimerQueue.id(top[0], top[1]);
      if (this.pending.delete(id)) return top;
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
        if (l < h.length && h[l]![0] < h[m]![0]) m = l;
        if (r < h.length && h[r]![0] < h[m]![0]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  /** Pending timers, for checkpoints. */
  snapshot(): [number, string][] {
    return [...this.pending].map((id) => {
      const at = id.indexOf('\u0000');
      return [Number(id.slice(0, at)), id.slice(at + 1)];
    });
  }

  restore(timers: [number, string][]): void {
    this.heap = [];
    this.pending.clear();
    for (const [t, k] of timers) this.add(t, k);
  }
}
