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
  /** The watermark of the operator's input advanced to `wm`. */
  watermark(wm: number): void;
  /** Processing time passed `now` (epoch ms); for processing-time timers. */
  tick?(now: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
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
  watermark(wm: number): void {
    for (const o of this.out) o.op.watermark(wm);
  }
  tick(now: number): void {
    for (const o of this.out) o.op.tick?.(now);
  }
  snapshot(): unknown {
    return undefined;
  }
  restore(_state: unknown): void {}
}

/** The string form of a group key, for maps: strings as they are, anything else as JSON. */
export function keyString(key: unknown): string {
  return typeof key === 'string' ? key : JSON.stringify(key);
}
