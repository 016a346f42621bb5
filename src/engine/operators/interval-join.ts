import { Chained, InputWatermarks, keyString, type Element, type OperatorMetrics, type Outputs } from './operator.js';

interface Side {
  /** key string → buffered events (time order not required). */
  byKey: Map<string, Element[]>;
  /** Smallest time at which one of this side's buffered events can be dropped. */
  nextCleanup: number;
}

interface Snapshot {
  wm: number;
  lateEvents: number;
  left: [string, [unknown, number, unknown][]][];
  right: [string, [unknown, number, unknown][]][];
}

/**
 * Stream–stream join within time bounds: a left event at t pairs with each right event of the same
 * key whose time is in `[t − before, t + after]`; the result has the later of the two times. Each side
 * keeps its events only while a future event of the other side could still match them, so state is
 * bounded by the bounds and the watermark delay. An event that arrives at or behind the watermark is late.
 */
export class IntervalJoinOperator extends Chained {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  private readonly sides: [Side, Side] = [{ byKey: new Map(), nextCleanup: Infinity }, { byKey: new Map(), nextCleanup: Infinity }];
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, private readonly late: Outputs, private readonly before: number, private readonly after: number,
    private readonly join: (left: unknown, right: unknown) => unknown) {
    super(id, out);
  }

  /** Time after which a buffered event of `input` can no longer match. */
  private expiry(input: number, ts: number): number {
    return input === 0 ? ts + this.after : ts + this.before;
  }

  process(batch: Element[], input: number): void {
    const results: Element[] = [];
    let lateBatch: Element[] | undefined;
    const own = this.sides[input]!;
    const other = this.sides[1 - input]!;
    for (const e of batch) {
      // Late by the watermark the event arrived under (the operator's own may lag behind it).
      if (e.ts <= (e.wm > this.wm ? e.wm : this.wm)) {
        this.metrics.lateEvents++;
        (lateBatch ??= []).push(e);
        continue;
      }
      const k = keyString(e.key);
      // For a left event the right side must be in [ts − before, ts + after]; for a right event, the mirror.
      const lo = input === 0 ? e.ts - this.before : e.ts - this.after;
      const hi = input === 0 ? e.ts + this.after : e.ts + this.before;
      const matches = other.byKey.get(k);
      if (matches) {
        for (const m of matches) {
          if (m.ts < lo || m.ts > hi) continue;
          const value = input === 0 ? this.join(e.value, m.value) : this.join(m.value, e.value);
          results.push({ value, ts: Math.max(e.ts, m.ts), key: e.key, wm: this.wm });
        }
      }
      let buf = own.byKey.get(k);
      if (!buf) own.byKey.set(k, (buf = []));
      buf.push(e);
      const exp = this.expiry(input, e.ts);
      if (exp < own.nextCleanup) own.nextCleanup = exp;
    }
    this.emit(results);
    if (lateBatch && this.late.length > 0) for (const o of this.late) o.op.process(lateBatch, o.input);
  }

  override watermark(wm: number, input = 0): void {
    const w = this.inputWms.seen(input, wm);
    if (w > this.wm) this.advance(w);
    super.watermark(this.wm);
  }

  private advance(wm: number): void {
    this.wm = wm;
    this.sides.forEach((side, input) => {
      if (wm < side.nextCleanup) return;
      side.nextCleanup = Infinity;
      for (const [k, buf] of side.byKey) {
        const kept = buf.filter((e) => this.expiry(input, e.ts) > wm);
        if (kept.length === 0) side.byKey.delete(k);
        else {
          side.byKey.set(k, kept);
          for (const e of kept) side.nextCleanup = Math.min(side.nextCleanup, this.expiry(input, e.ts));
        }
      }
    });
  }

  override snapshot(): Snapshot {
    const dump = (s: Side) => [...s.byKey].map(([k, buf]) => [k, buf.map((e) => [e.key, e.ts, e.value] as [unknown, number, unknown])] as [string, [unknown, number, unknown][]]);
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, left: dump(this.sides[0]), right: dump(this.sides[1]) };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    [s.left, s.right].forEach((dump, i) => {
      const side = this.sides[i]!;
      side.byKey = new Map(dump.map(([k, evs]) => [k, evs.map(([key, ts, value]) => ({ key, ts, value, wm: this.wm }))]));
      side.nextCleanup = -Infinity;
    });
  }
}
