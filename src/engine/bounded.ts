import { PipelineDefinitionError } from '../core/errors.js';
import { toEpochMillis } from '../core/time.js';
import { compileChildren } from './compile.js';
import { extract } from './graph.js';
import type { Element, Operator, OperatorMetrics, Outputs } from './operators/operator.js';
import { SinkOperator } from './operators/sink.js';
import { PipelineBuilder, type PipelineDefinition } from './pipeline.js';

/** Options of {@link runBounded}. */
export interface BoundedRunOptions {
  /** Events taken from one input at a time. Default 1000. */
  batchSize?: number;
  /**
   * At the end of the input, advance the watermark to +∞ so that every window fires (`'flush'`, the
   * batch answer), or leave it where the data put it (`'hold'`, what a live run shows). Default `'flush'`.
   */
  atEnd?: 'flush' | 'hold';
  /** Called with each output batch instead of collecting it (for large runs). */
  onOutput?: (topic: string, records: readonly OutputRecord[]) => void;
}

/** A record a bounded run produced. */
export interface OutputRecord {
  key: string | null;
  value: unknown;
  timestamp: number;
}

/** What {@link runBounded} returns. */
export interface BoundedRunResult {
  /** Output records per topic, in order (empty when `onOutput` was given). */
  outputs: Map<string, OutputRecord[]>;
  eventsIn: number;
  lateEvents: number;
}

interface Input {
  out: Outputs;
  time: ((v: unknown) => number | undefined) | undefined;
  outOfOrderness: number;
  iterator: Iterator<unknown>;
  maxTs: number;
  done: boolean;
}

/**
 * Runs a pipeline over finite inputs in this thread, without a log: the same operators, watermarks and
 * results as a live run, as one function call. Use it to unit-test a pipeline, to compute the batch
 * answer of a query over a file, or to measure the engine alone.
 *
 * Each input is read in batches, the inputs in turn; the watermark is the smallest (largest event time
 * − out-of-orderness) over the inputs, as if each were one partition (−∞ until each has produced an event).
 *
 * @example
 * ```ts
 * const { outputs } = runBounded(cardStats, { payments: [{ card: 'a', amount: 5, ts: 0 }] });
 * console.log(outputs.get('card-stats'));
 * ```
 */
export function runBounded(definition: PipelineDefinition, inputs: Record<string, Iterable<unknown>>, options: BoundedRunOptions = {}): BoundedRunResult {
  const batchSize = options.batchSize ?? 1000;
  const builder = new PipelineBuilder(definition.name);
  definition.setup(builder);
  const graph = builder.graph;
  const operators = new Map<string, Operator>();
  const sources: Input[] = graph.sources.map((node) => {
    const events = inputs[node.topic];
    if (events === undefined) throw new PipelineDefinitionError(`runBounded: no input given for topic '${node.topic}' of pipeline '${graph.name}'`);
    const time = node.time;
    return {
      out: compileChildren(node, operators),
      time: time === undefined ? undefined : (v: unknown) => toEpochMillis(extract(time, v as never)),
      outOfOrderness: node.outOfOrderness,
      iterator: events[Symbol.iterator](),
      maxTs: -Infinity,
      done: false,
    };
  });
  const sinks = [...operators.values()].filter((op): op is SinkOperator => op instanceof SinkOperator);
  const outputs = new Map<string, OutputRecord[]>();
  const drain = () => {
    for (const sink of sinks) {
      if (sink.pending.length === 0) continue;
      const records = sink.pending.map((r) => ({ key: r.key ?? null, value: r.value, timestamp: r.timestamp! }));
      sink.pending = [];
      if (options.onOutput) options.onOutput(sink.topic, records);
      else {
        const list = outputs.get(sink.topic) ?? [];
        for (const r of records) list.push(r);
        outputs.set(sink.topic, list);
      }
    }
  };
  let wm = -Infinity;
  const watermark = () => {
    let m = Infinity;
    for (const s of sources) {
      if (s.maxTs === -Infinity) return -Infinity;
      m = Math.min(m, s.maxTs - s.outOfOrderness);
    }
    return m;
  };
  let eventsIn = 0;
  const now = Date.now();
  while (sources.some((s) => !s.done)) {
    for (const src of sources) {
      if (src.done) continue;
      const batch: Element[] = [];
      while (batch.length < batchSize) {
        const next = src.iterator.next();
        if (next.done) {
          src.done = true;
          break;
        }
        const value = next.value;
        const ts = src.time ? src.time(value) : now;
        if (ts === undefined) throw new PipelineDefinitionError(`runBounded: an event of pipeline '${graph.name}' has no valid event time: ${JSON.stringify(value)}`);
        batch.push({ value, ts, key: undefined, wm });
        if (ts > src.maxTs) {
          src.maxTs = ts;
          const w = watermark();
          if (w > wm) wm = w;
        }
      }
      if (batch.length === 0) continue;
      eventsIn += batch.length;
      for (const o of src.out) o.op.process(batch, o.input);
      for (const s of sources) for (const o of s.out) o.op.watermark(wm, o.input);
      drain();
    }
  }
  if ((options.atEnd ?? 'flush') === 'flush') {
    for (const s of sources) for (const o of s.out) o.op.watermark(Infinity, o.input);
    drain();
  }
  let lateEvents = 0;
  for (const op of operators.values()) lateEvents += (op as { metrics?: OperatorMetrics }).metrics?.lateEvents ?? 0;
  return { outputs, eventsIn, lateEvents };
}
