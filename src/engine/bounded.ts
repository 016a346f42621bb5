import { PipelineDefinitionError } from '../core/errors.js';
import { toEpochMillis } from '../core/time.js';
import { compileChildren, type KeyByCompiler } from './compile.js';
import { compileFunction } from './codegen.js';
import { extract, type Extractor } from './graph.js';
import type { Operator, OperatorMetrics } from './operators/operator.js';
import { SinkOperator } from './operators/sink.js';
import { PipelineBuilder, type PipelineDefinition } from './pipeline.js';
import { SourceEdges } from './source-edges.js';

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
  edges: SourceEdges;
  /** Reads up to a batch from `array` (compiled for this source); see {@link compileArrayReader}. */
  readArray: ArrayReader | undefined;
  time: ((v: unknown) => number | undefined) | undefined;
  outOfOrderness: number;
  /** The input when it is an array: read by index (no iterator result per event). */
  array: readonly unknown[] | undefined;
  next: number;
  iterator: Iterator<unknown> | undefined;
  maxTs: number;
  done: boolean;
}

/**
 * The operators of one pipeline over finite inputs, stepped one input batch at a time: what
 * {@link runBounded} runs in this thread and each task of {@link runParallel} runs in its worker.
 * `keyBy` lets a parallel task put its exchanges where the graph keys the stream.
 */
export class BoundedRun {
  readonly operators = new Map<string, Operator>();
  readonly sinks: SinkOperator[];
  eventsIn = 0;
  private readonly sources: Input[];
  private readonly name: string;
  private wm = -Infinity;
  private readonly now = Date.now();

  constructor(definition: PipelineDefinition, inputs: Record<string, Iterable<unknown>>, private readonly batchSize = 1000,
    keyBy?: KeyByCompiler) {
    const builder = new PipelineBuilder(definition.name);
    definition.setup(builder);
    const graph = builder.graph;
    this.name = graph.name;
    this.sources = graph.sources.map((node) => {
      const events = inputs[node.topic];
      if (events === undefined) throw new PipelineDefinitionError(`no input given for topic '${node.topic}' of pipeline '${graph.name}'`);
      const time = node.time;
      const edges = new SourceEdges(compileChildren(node, this.operators, keyBy));
      return {
        edges,
        readArray: Array.isArray(events) ? compileArrayReader(time, edges.offer, () => this.advanced()) : undefined,
        time: time === undefined ? undefined : (v: unknown) => toEpochMillis(extract(time, v as never)),
        outOfOrderness: node.outOfOrderness,
        array: Array.isArray(events) ? events : undefined,
        next: 0,
        iterator: Array.isArray(events) ? undefined : events[Symbol.iterator](),
        maxTs: -Infinity,
        done: false,
      };
    });
    this.sinks = [...this.operators.values()].filter((op): op is SinkOperator => op instanceof SinkOperator);
  }

  /** Every input has been read to its end. */
  get done(): boolean {
    return this.sources.every((s) => s.done);
  }

  /**
   * Reads the next batch of each input in turn and pushes it through the operators, each batch
   * followed by the watermark on every source edge. False once every input has ended.
   */
  step(): boolean {
    let any = false;
    for (const src of this.sources) {
      if (src.done) continue;
      const read = this.read(src);
      if (read === 0) continue;
      any = true;
      this.eventsIn += read;
      src.edges.flush();
      this.broadcast(this.wm);
    }
    return any || !this.done;
  }

  /** Advances every source edge to `wm`; `Infinity` at the end of input fires every window. */
  broadcast(wm: number): void {
    for (const s of this.sources) s.edges.watermark(wm);
  }

  /** Takes the records the sinks gathered since the last call. */
  drain(onRecords: (topic: string, records: OutputRecord[]) => void): void {
    for (const sink of this.sinks) {
      if (sink.pending.length === 0) continue;
      // A sink's records already have an output record's fields: handed over as they are.
      const records: OutputRecord[] = sink.pending;
      sink.pending = [];
      onRecords(sink.topic, records);
    }
  }

  /** Events the operators found late, summed. */
  lateEvents(): number {
    let late = 0;
    for (const op of this.operators.values()) late += (op as { metrics?: OperatorMetrics }).metrics?.lateEvents ?? 0;
    return late;
  }

  /** Reads up to a batch of events into the source's edges (each keeps what its filters pass); returns how many were read. */
  private read(src: Input): number {
    if (src.readArray !== undefined) return src.readArray(src, this.batchSize, this.wm, this.now, this.name);
    const { array } = src;
    let read = 0;
    while (read < this.batchSize) {
      let value: unknown;
      if (array !== undefined) {
        if (src.next >= array.length) {
          src.done = true;
          break;
        }
        value = array[src.next++];
      } else {
        const next = src.iterator!.next();
        if (next.done) {
          src.done = true;
          break;
        }
        value = next.value;
      }
      const ts = src.time ? src.time(value) : this.now;
      if (ts === undefined) throw new PipelineDefinitionError(`an event of pipeline '${this.name}' has no valid event time: ${JSON.stringify(value)}`);
      read++;
      src.edges.offer(value, ts, this.wm);
      if (ts > src.maxTs) {
        src.maxTs = ts;
        const w = this.watermark();
        if (w > this.wm) this.wm = w;
      }
    }
    return read;
  }

  /** A source's largest event time rose: the run's watermark, advanced if it moved. */
  private advanced(): number {
    const w = this.watermark();
    if (w > this.wm) this.wm = w;
    return this.wm;
  }

  /** The smallest (largest event time − out-of-orderness) over the inputs; −∞ until each has an event. */
  private watermark(): number {
    let m = Infinity;
    for (const s of this.sources) {
      if (s.maxTs === -Infinity) return -Infinity;
      m = Math.min(m, s.maxTs - s.outOfOrderness);
    }
    return m;
  }
}

/** Reads up to `batchSize` events of an array input into its edges; returns how many were read. */
type ArrayReader = (src: Input, batchSize: number, wm: number, now: number, pipeline: string) => number;

/**
 * The read loop of an array input, compiled for its source (see `codegen.ts`): the time field is read
 * by name and the edges' `offer` is called from a site of its own, so V8 inlines both into the loop —
 * for queries that keep few of their events, reading is most of the work. Undefined where code cannot
 * be compiled: `BoundedRun.read`'s own loop reads the array then.
 */
function compileArrayReader(time: Extractor<never, unknown> | undefined, offer: SourceEdges['offer'],
  advanced: () => number): ArrayReader | undefined {
  // Every path gives `ts` as a number (the slow one converts or throws), so V8 keeps it an unboxed
  // double: a path that could leave it undefined would box every event's time. A field name is written
  // into the code as a JSON string literal (data, escaped); a function is a binding.
  const time$ = time === undefined ? 'const ts = now;'
    : typeof time === 'function' ? 'const r = timeOf(value); const ts = typeof r === \'number\' && r - r === 0 ? r : +slow(r, value, pipeline);'
      : `let ts;
        if (typeof value === 'object' && value !== null) {
          const r = value[${JSON.stringify(time)}];
          ts = typeof r === 'number' && r - r === 0 ? r : +slow(r, value, pipeline);
        } else ts = +slow(undefined, value, pipeline);`;
  return compileFunction({ offer, advanced, timeOf: time, slow: slowTime }, `function read(src, batchSize, wm, now, pipeline) {
    const array = src.array;
    const end = array.length;
    const start = src.next;
    let next = start;
    const stop = Math.min(end, next + batchSize);
    let maxTs = src.maxTs;
    try {
      while (next < stop) {
        const value = array[next++];
        ${time$}
        offer(value, ts, wm);
        if (ts > maxTs) { maxTs = src.maxTs = ts; wm = advanced(); }
      }
    } finally {
      src.next = next;
      if (next >= end) src.done = true;
    }
    return next - start;
  }`, () => undefined);
}

/** An event time that is not a finite number: converted (a Date, an ISO-8601 string), or the run stops. */
function slowTime(raw: unknown, value: unknown, pipeline: string): number {
  const t = toEpochMillis(raw);
  if (t === undefined) invalidTime(pipeline, value);
  return t;
}

function invalidTime(pipeline: string, value: unknown): never {
  throw new PipelineDefinitionError(`an event of pipeline '${pipeline}' has no valid event time: ${JSON.stringify(value)}`);
}

/**
 * Runs a pipeline over finite inputs in this thread, without a log: the same operators, watermarks and
 * results as a live run, as one function call. Use it to unit-test a pipeline, to compute the batch
 * answer of a query over a file, or to measure the engine alone; {@link runParallel} runs it on
 * several threads.
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
  let run: BoundedRun;
  try {
    run = new BoundedRun(definition, inputs, options.batchSize ?? 1000);
  } catch (err) {
    if (err instanceof PipelineDefinitionError) throw new PipelineDefinitionError(`runBounded: ${err.message}`, { cause: err });
    throw err;
  }
  const outputs = new Map<string, OutputRecord[]>();
  const collect = options.onOutput ?? ((topic: string, records: OutputRecord[]) => {
    const list = outputs.get(topic);
    if (list === undefined) outputs.set(topic, records);
    else for (const r of records) list.push(r);
  });
  while (run.step()) run.drain(collect);
  if ((options.atEnd ?? 'flush') === 'flush') run.broadcast(Infinity);
  run.drain(collect);
  return { outputs, eventsIn: run.eventsIn, lateEvents: run.lateEvents() };
}
