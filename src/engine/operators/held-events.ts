import type { Element } from './operator.js';

/**
 * Events waiting for a watermark, taken out in order of the watermark each was read under (arrival
 * order on equal watermarks): a binary min-heap, so that holding and releasing cost O(log n) an event
 * however many wait.
 */
export class HeldEvents {
  private heap: { e: Element; seq: number }[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(e: Element): void {
    const h = this.heap;
    const item = { e, seq: this.seq++ };
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
  }

  /** Removes and returns the earliest event whose watermark is at most `wm`. */
  pop(wm: number): Element | undefined {
    const h = this.heap;
    if (h.length === 0 || h[0]!.e.wm > wm) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top.e;
  }
}

function before(a: { e: Element; seq: number }, b: { e: Element; seq: number }): boolean {
  return a.e.wm < b.e.wm || (a.e.wm === b.e.wm && a.seq < b.seq);
}
