import { Chained, InputWatermarks, type Element, type Outputs } from './operator.js';

/** Keeps the events for which the predicate holds. */
export class FilterOperator extends Chained {
  constructor(id: string, out: Outputs, readonly predicate: (v: unknown) => boolean) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const kept: Element[] = [];
    for (const e of batch) if (this.predicate(e.value)) kept.push(e);
    this.emit(kept);
  }
  /** Where the kept events go. */
  get outputs(): Outputs {
    return this.out;
  }
}

/** Replaces each event's value; time and key stay. */
export class MapOperator extends Chained {
  constructor(id: string, out: Outputs, readonly fn: (v: unknown) => unknown) {
    super(id, out);
  }
  /** Where the mapped events go. */
  get outputs(): Outputs {
    return this.out;
  }
  process(batch: Element[]): void {
    const mapped: Element[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      mapped[i] = { value: this.fn(e.value), ts: e.ts, key: e.key, wm: e.wm };
    }
    this.emit(mapped);
  }
}

/** Replaces each event by zero or more values with its time and key. */
export class FlatMapOperator extends Chained {
  constructor(id: string, out: Outputs, private readonly fn: (v: unknown) => Iterable<unknown>) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const out: Element[] = [];
    for (const e of batch) for (const v of this.fn(e.value)) out.push({ value: v, ts: e.ts, key: e.key, wm: e.wm });
    this.emit(out);
  }
}

/** Sets each event's group key. */
export class KeyByOperator extends Chained {
  constructor(id: string, out: Outputs, readonly fn: (v: unknown) => unknown) {
    super(id, out);
  }
  /** Where the keyed events go. */
  get outputs(): Outputs {
    return this.out;
  }
  process(batch: Element[]): void {
    const keyed: Element[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      keyed[i] = { value: e.value, ts: e.ts, key: this.fn(e.value), wm: e.wm };
    }
    this.emit(keyed);
  }
}

/**
 * Passes the events of several streams on as one, in the order of the watermarks they were read
 * under, and as its watermark the smallest of its inputs'.
 *
 * Two branches of one source reach a union one after the other: all of a batch's events that took the
 * first branch, then those that took the second. Passed on in that order, an operator after the union
 * would advance its time through the first branch's events and then find the second branch's late. So
 * the union holds what arrives until the next watermark (every input edge gets one after every batch)
 * and then passes it on merged by the watermark each event was read under, inputs in order on equal
 * watermarks: downstream, time never moves past an event before the event itself.
 */
export class UnionOperator extends Chained {
  private readonly inputWms: InputWatermarks;
  private readonly held: Element[][];
  private holding = false;

  constructor(id: string, out: Outputs, inputs: number) {
    super(id, out);
    this.inputWms = new InputWatermarks(inputs);
    this.held = Array.from({ length: Math.max(1, inputs) }, () => []);
  }

  process(batch: Element[], input = 0): void {
    const h = this.held[input]!;
    for (const e of batch) h.push(e);
    this.holding = true;
  }

  override watermark(wm: number, input = 0): void {
    if (this.holding) this.release();
    super.watermark(this.inputWms.seen(input, wm));
  }

  /** Processing time passed: what a timer emitted upstream goes on without waiting for the next watermark. */
  override tick(now: number): void {
    if (this.holding) this.release();
    super.tick(now);
  }

  /** Emits the held events merged by read watermark (stable across inputs). */
  private release(): void {
    this.holding = false;
    const lists = this.held.filter((l) => l.length > 0);
    for (let i = 0; i < this.held.length; i++) this.held[i] = [];
    if (lists.length === 1) {
      this.emit(lists[0]!);
      return;
    }
    const merged: Element[] = [];
    const at = new Array<number>(lists.length).fill(0);
    for (;;) {
      let best = -1;
      for (let i = 0; i < lists.length; i++) {
        const e = lists[i]![at[i]!];
        if (e !== undefined && (best < 0 || e.wm < lists[best]![at[best]!]!.wm)) best = i;
      }
      if (best < 0) break;
      merged.push(lists[best]![at[best]!++]!);
    }
    this.emit(merged);
  }
}
