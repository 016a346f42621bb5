import { Chained, InputWatermarks, type Element, type Outputs } from './operator.js';

/** Keeps the events for which the predicate holds. */
export class FilterOperator extends Chained {
  constructor(id: string, out: Outputs, private readonly fn: (v: unknown) => boolean) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const kept: Element[] = [];
    for (const e of batch) if (this.fn(e.value)) kept.push(e);
    this.emit(kept);
  }
}

/** Replaces each event's value; time and key stay. */
export class MapOperator extends Chained {
  constructor(id: string, out: Outputs, private readonly fn: (v: unknown) => unknown) {
    super(id, out);
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
  constructor(id: string, out: Outputs, private readonly fn: (v: unknown) => unknown) {
    super(id, out);
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
 * Passes the events of several streams on as one (the inputs are merged in arrival order), and as its
 * watermark the smallest of its inputs'.
 */
export class UnionOperator extends Chained {
  private readonly inputWms: InputWatermarks;

  constructor(id: string, out: Outputs, inputs: number) {
    super(id, out);
    this.inputWms = new InputWatermarks(inputs);
  }

  process(batch: Element[]): void {
    this.emit(batch);
  }

  override watermark(wm: number, input = 0): void {
    super.watermark(this.inputWms.seen(input, wm));
  }
}
