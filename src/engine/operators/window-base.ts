import type { Aggregate } from '../aggregates.js';
import { compileFunction } from '../codegen.js';
import type { WindowOptionsResolved } from '../windows.js';
import { Chained, LateEvents, type EdgeTimed, type Element, type OperatorMetrics, type Outputs, type PushInput } from './operator.js';

/**
 * The aggregates of a window, applied field by field to an array of accumulators. Its per-event
 * methods are compiled for these aggregates (see `codegen.ts`), so each aggregate's `add` is called
 * from a site of its own.
 */
export class AggregateSet {
  private readonly names: string[];
  private readonly aggs: Aggregate<unknown, unknown, unknown>[];
  /** A new array of accumulators. */
  readonly create: () => unknown[];
  /** Adds an event to each accumulator (in place). */
  readonly add: (accs: unknown[], value: unknown) => void;
  /** Two arrays of accumulators merged into a new one; both stay as they were. */
  readonly merge: (a: unknown[], b: unknown[]) => unknown[];

  constructor(aggregates: Record<string, Aggregate<unknown, unknown, unknown>>) {
    this.names = Object.keys(aggregates);
    this.aggs = Object.values(aggregates);
    const bindings: Record<string, unknown> = {};
    this.aggs.forEach((a, i) => { bindings[`a${i}`] = a; });
    const each = (f: (i: number) => string, sep: string) => this.aggs.map((_, i) => f(i)).join(sep);
    const aggs = this.aggs;
    this.create = compileFunction(bindings, `function create() { return [${each((i) => `a${i}.create()`, ', ')}]; }`,
      () => () => aggs.map((a) => a.create()));
    this.add = compileFunction(bindings, `function add(accs, value) { ${each((i) => `accs[${i}] = a${i}.add(accs[${i}], value);`, ' ')} }`,
      () => (accs, value) => { for (let i = 0; i < aggs.length; i++) accs[i] = aggs[i]!.add(accs[i], value); });
    this.merge = compileFunction(bindings, `function merge(a, b) { return [${each((i) => `a${i}.merge(a[${i}], b[${i}])`, ', ')}]; }`,
      () => (a, b) => aggs.map((agg, i) => agg.merge(a[i], b[i])));
  }

  /** The result record of a window: `{ key, start, end, …aggregates }`. */
  result(key: unknown, start: number, end: number, accs: unknown[]): Record<string, unknown> {
    return this.fill({ key, start, end }, accs);
  }

  /** The result record of a whole-stream aggregate: `{ key, …aggregates }`. */
  row(key: unknown, accs: unknown[]): Record<string, unknown> {
    return this.fill({ key }, accs);
  }

  private fill(value: Record<string, unknown>, accs: unknown[]): Record<string, unknown> {
    for (let i = 0; i < this.aggs.length; i++) value[this.names[i]!] = this.aggs[i]!.result(accs[i]);
    return value;
  }
}

/**
 * What every event-time window operator shares: the watermark it has reached, the late output and
 * its metric, and the batch of results being built. Subclasses assign events to windows and decide
 * when windows fire and close.
 */
export abstract class WindowOperatorBase extends Chained implements EdgeTimed, PushInput {
  protected wm = -Infinity;
  /** The watermark the event being accepted is judged late by: its own, or the operator's if later. */
  protected lateWm = -Infinity;
  edgeTimed = false;
  protected readonly aggs: AggregateSet;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };
  /** Results waiting to be emitted at the end of the current batch or watermark step. */
  protected results: Element[] = [];
  /** Late events of the current batch, sent to the late output after its results. */
  private readonly lateEvents: LateEvents;
  /** The element `push` hands to `accept` (which reads its fields and never keeps it). */
  private readonly pushed: Element = { value: undefined, ts: 0, key: undefined, wm: -Infinity };

  constructor(
    id: string,
    out: Outputs,
    /** Where late events go (a sink of the late-output topic), if anywhere. */
    late: Outputs,
    protected readonly options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
  ) {
    super(id, out);
    this.aggs = new AggregateSet(aggregates);
    this.lateEvents = new LateEvents(late);
  }

  process(batch: Element[], _input = 0): void {
    for (const e of batch) this.take(e);
    this.endBatch();
  }

  /** One event, as a source reads it (see {@link PushInput}): given to `accept` in a reused element. */
  push(value: unknown, ts: number, key: unknown, wm: number): void {
    const e = this.pushed;
    e.value = value;
    e.ts = ts;
    e.key = key;
    e.wm = wm;
    this.take(e);
  }

  /** Emits what the events since the last call produced, then the late ones among them. */
  endBatch(): void {
    this.flushUpdates();
    this.emitResults();
    this.lateEvents.flush();
  }

  private take(e: Element): void {
    if (!this.edgeTimed && e.wm > this.wm) this.advanceTo(e.wm);
    this.lateWm = e.wm > this.wm ? e.wm : this.wm;
    if (!this.accept(e)) {
      this.metrics.lateEvents++;
      // A copy: `e` may be the reused element of `push`.
      this.lateEvents.add(e.value, e.ts, e.key, e.wm);
    }
  }

  override watermark(wm: number): void {
    if (wm > this.wm) {
      this.advanceTo(wm);
      this.emitResults();
    }
    super.watermark(wm);
  }

  private advanceTo(wm: number): void {
    // Updates made under the old watermark go out before the windows that the new one fires.
    this.flushUpdates();
    const before = this.wm;
    this.wm = wm;
    this.fire(before);
  }

  protected pushResult(value: unknown, ts: number, key: unknown, wm: number): void {
    this.results.push({ value, ts, key, wm });
  }

  private emitResults(): void {
    if (this.results.length === 0) return;
    const r = this.results;
    this.results = [];
    this.emit(r);
  }

  /** Adds an event to its windows; false when it is late for all of them (nothing was changed). `e` must not be kept. */
  protected abstract accept(e: Element): boolean;
  /** Emits the results of windows changed since the last call (replacements, and every change in `update` mode). */
  protected abstract flushUpdates(): void;
  /** The watermark moved from `before` to `this.wm`: fire the windows it reached, drop the ones it closed. */
  protected abstract fire(before: number): void;
}
