/**
 * An event in flight between operators. `wm` is the watermark in effect when the event arrived at
 * its source: operators that keep time (windows, joins) advance to it before they look at the event,
 * so the outcome does not depend on how the input was cut into batches.
 */
export interface Element {
  value: unknown;
  ts: number;
  key: unknown;
  wm: number;
}

/** Runtime counterpart of a graph node. Batches in, batches out; no promise per event. */
export interface Operator {
  readonly id: string;
  /** Handles a batch arriving on input `input` (0 unless the operator has several, like a join). */
  process(batch: Element[], input: number): void;
  /**
   * The watermark of input `input` (default 0) advanced to `wm`. Watermarks travel along every edge,
   * so an operator with several inputs hears from each and advances to the smallest.
   */
  watermark(wm: number, input?: number): void;
  /** Processing time passed `now` (epoch ms); for processing-time timers. */
  tick?(now: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/**
 * An operator that can take events one at a time, as a source reads them: no element and no batch per
 * event. A source's compiled read loop calls `push` for each event its one-to-one steps keep and
 * `endBatch` where it would have handed over a batch (see `source-edges.ts`); `process(batch)` must
 * give the same result as `push` per element followed by `endBatch`. Operators that hold their output
 * until the end of a batch and do not depend on how two inputs' events interleave — windows, `process`,
 * window joins, sinks — take pushes (Flink's operator chaining passes records by a method call the
 * same way).
 */
export interface PushInput {
  /** One event arriving on input `input` (0 unless the operator has several, like a join). */
  push(value: unknown, ts: number, key: unknown, wm: number, input: number): void;
  endBatch(): void;
}

/** Whether an operator takes events one at a time. */
export function takesPushes(op: Operator): op is Operator & PushInput {
  return typeof (op as Partial<PushInput>).push === 'function' && typeof (op as Partial<PushInput>).endBatch === 'function';
}

/** Where events can be pushed one at a time: the single output, when its operator takes pushes. */
export function pushTarget(out: Outputs): { op: Operator & PushInput; input: number } | undefined {
  if (out.length !== 1) return undefined;
  const { op, input } = out[0]!;
  return takesPushes(op) ? { op, input } : undefined;
}

/**
 * The late events of the batch in progress, sent to the late output (a sink of the late-output topic)
 * when the batch ends; nothing is kept when there is no late output.
 */
export class LateEvents {
  private batch: Element[] = [];
  constructor(private readonly out: Outputs) {}

  add(value: unknown, ts: number, key: unknown, wm: number): void {
    if (this.out.length > 0) this.batch.push({ value, ts, key, wm });
  }

  flush(): void {
    if (this.batch.length === 0) return;
    const late = this.batch;
    this.batch = [];
    for (const o of this.out) o.op.process(late, o.input);
  }
}

/**
 * An operator that keeps event time can take it from two places: the watermark each event carries
 * (the one it was read under; the default, so that one thread's results do not depend on batch cuts),
 * or only the watermarks sent along its input edges. A task of a parallel run sets `edgeTimed`: its
 * operators also see other tasks' events, whose watermarks are those tasks', so they advance only
 * on the smallest of the tasks' watermarks and use an event's own watermark only to judge it late.
 */
export interface EdgeTimed {
  edgeTimed: boolean;
}

/** Whether an operator can be told to keep time by its input edges only. */
export function isEdgeTimed(op: unknown): op is EdgeTimed {
  return typeof (op as Partial<EdgeTimed>).edgeTimed === 'boolean';
}

/** What an operator counts. */
export interface OperatorMetrics {
  /** Events that arrived after the state they belonged to was closed (sent to the late output when there is one). */
  lateEvents: number;
}

/** Where an operator sends its output: the next operators, each with the input number it feeds. */
export type Outputs = readonly { op: Operator; input: number }[];

/** The base of single-output operators: forwards batches and watermarks downstream. */
export abstract class Chained implements Operator {
  constructor(readonly id: string, protected readonly out: Outputs) {}
  abstract process(batch: Element[], input: number): void;
  protected emit(batch: Element[]): void {
    if (batch.length === 0) return;
    for (const o of this.out) o.op.process(batch, o.input);
  }
  watermark(wm: number, _input?: number): void {
    for (const o of this.out) o.op.watermark(wm, o.input);
  }
  tick(now: number): void {
    for (const o of this.out) o.op.tick?.(now);
  }
  snapshot(): unknown {
    return undefined;
  }
  restore(_state: unknown): void {}
}

/** The string form of a group key, for maps: strings as they are, anything else as JSON (`undefined` as 'undefined'). */
export function keyString(key: unknown): string {
  if (typeof key === 'string') return key;
  // The same text as JSON for a finite number, from V8's number-to-string cache.
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  return JSON.stringify(key) ?? 'undefined';
}

/**
 * The watermark of an operator with several inputs: the smallest of the watermarks its inputs sent.
 *
 * An event carries the watermark of its source when it was read, and that decides whether it is late.
 * But two branches of one source reach a join one after the other, each with events whose watermarks
 * rise through the batch, and a window upstream of one input sends its results only when the
 * watermark reaches it: advancing on events' watermarks would fire windows and evict state before
 * the other input's earlier events arrive. So an operator with several inputs advances only on the
 * watermarks sent along its input edges (after every batch, every edge gets one), to the smallest.
 */
export class InputWatermarks {
  private readonly inputs: number[];
  private current = -Infinity;

  constructor(inputs: number) {
    this.inputs = new Array<number>(Math.max(1, inputs)).fill(-Infinity);
  }

  /** The operator's watermark: the smallest over the inputs. */
  get value(): number {
    return this.current;
  }

  /** Each input's watermark. */
  values(): number[] {
    return this.inputs.slice();
  }

  /** Notes that an event with watermark `wm` arrived on `input`; returns the operator's watermark. */
  seen(input: number, wm: number): number {
    if (wm > this.inputs[input]!) {
      this.inputs[input] = wm;
      this.recompute();
    }
    return this.current;
  }

  /** A watermark for every input (the broadcast after a batch, or a restored checkpoint). */
  all(wm: number): number {
    for (let i = 0; i < this.inputs.length; i++) if (wm > this.inputs[i]!) this.inputs[i] = wm;
    this.recompute();
    return this.current;
  }

  private recompute(): void {
    let min = Infinity;
    for (const w of this.inputs) if (w < min) min = w;
    this.current = min;
  }
}
