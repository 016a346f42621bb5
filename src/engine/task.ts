import fs from 'node:fs';
import path from 'node:path';
import { RivuletError } from '../core/errors.js';
import type { AppendRecord } from '../core/record.js';
import { describeValue, toEpochMillis } from '../core/time.js';
import type { Log } from '../log/log.js';
import { compileChildren } from './compile.js';
import { extract, type Extractor } from './graph.js';
import type { Operator, OperatorMetrics } from './operators/operator.js';
import { ProcessOperator } from './operators/process.js';
import { SinkOperator } from './operators/sink.js';
import { SourceEdges } from './source-edges.js';
import type { PipelineGraph } from './pipeline.js';

/** How often processing-time timers are checked while some are pending. */
const TICK_MS = 50;

/** The topic that receives events Rivulet could not accept or process, with the reason. */
export const DEAD_LETTER_TOPIC = '_deadletter';

/** Options of a {@link PipelineTask}. */
export interface TaskOptions {
  log: Log;
  graph: PipelineGraph;
  /** Directory of checkpoint files, one per pipeline. */
  checkpointDir: string;
  checkpointIntervalMs: number;
  /** Records read from one partition at a time. Default 1000. */
  readBatch?: number;
  /** Called once if the task stops because of an error. */
  onFailure?: (error: Error) => void;
}

/** What a running pipeline reports. */
export interface TaskStatus {
  pipeline: string;
  state: 'created' | 'running' | 'stopped' | 'failed';
  error?: string;
  /** The pipeline's event-time watermark in epoch ms, or null before any event. */
  watermark: number | null;
  eventsIn: number;
  recordsOut: number;
  lateEvents: number;
  positions: Record<string, number[]>;
}

interface SourceRuntime {
  id: string;
  topic: string;
  time?: Extractor<never, unknown>;
  outOfOrderness: number;
  idleTimeout: number | undefined;
  edges: SourceEdges;
  positions: number[];
  /** Largest event time seen per partition. */
  maxTs: number[];
  nonEmpty: boolean[];
  /** Wall-clock time each partition last brought new records (or the task started). */
  lastActive: number[];
}

interface Checkpoint {
  version: 1;
  pipeline: string;
  watermark: number | null;
  sources: Record<string, { positions: number[]; maxTs: (number | null)[] }>;
  operators: Record<string, unknown>;
  eventsIn: number;
  recordsOut: number;
}

/**
 * Runs one pipeline: reads its source partitions in batches, tracks event time, pushes batches through
 * the operators, appends outputs to their topics and checkpoints its progress.
 *
 * The watermark of a source is the smallest (largest event time seen − out-of-orderness) over its
 * partitions that hold records; the pipeline's watermark is the smallest over its sources.
 * Checkpoints are taken at batch boundaries, after the outputs of the batch were appended: after a
 * crash the task resumes from the last checkpoint and may append some outputs again (at-least-once).
 */
export class PipelineTask {
  private readonly sources: SourceRuntime[] = [];
  private readonly operators = new Map<string, Operator>();
  private readonly sinks: SinkOperator[] = [];
  private readonly processOperators: ProcessOperator[] = [];
  private readonly deadLetters: AppendRecord[] = [];
  private readonly abort = new AbortController();
  private readonly readBatch: number;
  private readonly checkpointPath: string;
  private wm = -Infinity;
  private state: TaskStatus['state'] = 'created';
  private error: Error | undefined;
  private loop: Promise<void> | undefined;
  private eventsIn = 0;
  private recordsOut = 0;
  private lastCheckpoint = 0;

  constructor(private readonly options: TaskOptions) {
    this.readBatch = options.readBatch ?? 1000;
    this.checkpointPath = path.join(options.checkpointDir, `${options.graph.name}.json`);
    for (const node of options.graph.sources) {
      const partitions = options.log.describeTopic(node.topic)?.partitions;
      if (partitions === undefined) throw new RivuletError('unknown_topic', `pipeline '${options.graph.name}' reads topic '${node.topic}', which does not exist`);
      this.sources.push({
        id: node.id,
        topic: node.topic,
        time: node.time,
        outOfOrderness: node.outOfOrderness,
        idleTimeout: node.idleTimeout,
        edges: new SourceEdges(compileChildren(node, this.operators)),
        positions: new Array(partitions).fill(0),
        maxTs: new Array(partitions).fill(-Infinity),
        nonEmpty: new Array(partitions).fill(false),
        lastActive: new Array(partitions).fill(Date.now()),
      });
    }
    for (const op of this.operators.values()) if (op instanceof SinkOperator) this.sinks.push(op);
    for (const op of this.operators.values()) if (op instanceof ProcessOperator) this.processOperators.push(op);
  }

  /** Restores the last checkpoint, if any, and starts processing in the background. */
  start(): void {
    this.restore();
    this.state = 'running';
    this.lastCheckpoint = Date.now();
    this.loop = this.run().catch((err: unknown) => {
      this.error = err instanceof Error ? err : new Error(String(err));
      this.state = 'failed';
      this.options.onFailure?.(this.error);
    });
  }

  /** Stops after the batch in progress and writes a final checkpoint. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.state === 'running') {
      this.checkpoint();
      this.state = 'stopped';
    }
  }

  status(): TaskStatus {
    let lateEvents = 0;
    for (const op of this.operators.values()) {
      const metrics = (op as { metrics?: OperatorMetrics }).metrics;
      if (metrics) lateEvents += metrics.lateEvents;
    }
    return {
      pipeline: this.options.graph.name,
      state: this.state,
      ...(this.error ? { error: this.error.message } : {}),
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      eventsIn: this.eventsIn,
      recordsOut: this.recordsOut,
      lateEvents,
      positions: Object.fromEntries(this.sources.map((s) => [s.topic, [...s.positions]])),
    };
  }

  private async run(): Promise<void> {
    const { log } = this.options;
    const signal = this.abort.signal;
    const idleTimeouts = this.sources.map((s) => s.idleTimeout).filter((t): t is number => t !== undefined);
    const idleCheckMs = idleTimeouts.length > 0 ? Math.max(10, Math.min(...idleTimeouts) / 4) : undefined;
    while (!signal.aborted) {
      let got = 0;
      const now = Date.now();
      for (const src of this.sources) {
        const ends = log.endOffsets(src.topic);
        for (let p = 0; p < ends.length; p++) src.nonEmpty[p] = ends[p]! > 0;
        for (let p = 0; p < src.positions.length; p++) {
          if (ends[p]! <= src.positions[p]!) continue;
          const records = await log.read(src.topic, p, src.positions[p]!, this.readBatch);
          if (records.length === 0) continue;
          src.lastActive[p] = now;
          for (const r of records) {
            let ts = r.timestamp;
            if (src.time !== undefined) {
              const raw = extract(src.time, r.value as never);
              const t = toEpochMillis(raw);
              if (t === undefined) {
                this.deadLetters.push(deadLetter(src.topic, r.partition, r.offset, r.value, 'invalid_event_time',
                  `event time ${typeof src.time === 'string' ? `'${src.time}' ` : ''}is ${describeValue(raw)}, not epoch milliseconds or an ISO-8601 string`));
                continue;
              }
              ts = t;
            }
            src.edges.offer(r.value, ts, this.wm);
            if (ts > src.maxTs[p]!) {
              src.maxTs[p] = ts;
              const wm = this.computeWatermark(now);
              if (wm > this.wm) this.wm = wm;
            }
          }
          src.positions[p] = records.at(-1)!.offset + 1;
          got += records.length;
          src.edges.flush();
        }
      }
      const wmBefore = this.wm;
      if (idleCheckMs !== undefined) {
        // Partitions may have gone idle since the last records: that can move the watermark by itself.
        const wm = this.computeWatermark(Date.now());
        if (wm > this.wm) this.wm = wm;
      }
      const ticking = this.processOperators.some((op) => op.wantsTicks);
      if (ticking) for (const op of this.processOperators) op.tick(Date.now());
      if (got > 0 || this.wm > wmBefore || (ticking && this.sinks.some((s) => s.pending.length > 0))) {
        for (const src of this.sources) src.edges.watermark(this.wm);
        await this.flushOutputs();
        // Counted after the outputs are appended, so that a reader seeing the count also sees its results.
        this.eventsIn += got;
        if (Date.now() - this.lastCheckpoint >= this.options.checkpointIntervalMs) this.checkpoint();
      } else {
        const ac = new AbortController();
        const onAbort = () => ac.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        const wakeMs = ticking ? Math.min(idleCheckMs ?? TICK_MS, TICK_MS) : idleCheckMs;
        const timer = wakeMs === undefined ? undefined : setTimeout(() => ac.abort(), wakeMs);
        await Promise.race(this.sources.map((s) => log.waitForRecords(s.topic, s.positions, ac.signal)));
        clearTimeout(timer);
        ac.abort();
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /**
   * The smallest (largest event time − out-of-orderness) over the partitions that hold records and are
   * not idle; a source whose partitions are all idle is left out; -Infinity until every source has data.
   */
  private computeWatermark(now: number): number {
    let wm = Infinity;
    for (const src of this.sources) {
      let m = Infinity;
      let active = false;
      for (let p = 0; p < src.maxTs.length; p++) {
        if (!src.nonEmpty[p]) continue;
        if (src.idleTimeout !== undefined && now - src.lastActive[p]! >= src.idleTimeout) {
          if (src.maxTs[p]! === -Infinity) active = true; // records not read yet: not idle, only behind
          continue;
        }
        active = true;
        if (src.maxTs[p]! < m) m = src.maxTs[p]!;
      }
      if (!active) continue;
      if (m === Infinity) return -Infinity;
      wm = Math.min(wm, m - src.outOfOrderness);
    }
    return wm === Infinity ? this.wm : wm;
  }

  private async flushOutputs(): Promise<void> {
    const { log } = this.options;
    for (const sink of this.sinks) {
      if (sink.pending.length === 0) continue;
      const batch = sink.pending;
      sink.pending = [];
      await log.append(sink.topic, batch);
      this.recordsOut += batch.length;
    }
    if (this.deadLetters.length > 0) {
      await log.append(DEAD_LETTER_TOPIC, this.deadLetters.splice(0));
    }
  }

  /** Writes positions, watermark and operator state atomically (write to a temporary file, then rename). */
  private checkpoint(): void {
    const cp: Checkpoint = {
      version: 1,
      pipeline: this.options.graph.name,
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      sources: Object.fromEntries(this.sources.map((s) => [s.id, { positions: s.positions, maxTs: s.maxTs.map((t) => (Number.isFinite(t) ? t : null)) }])),
      operators: Object.fromEntries([...this.operators].map(([id, op]) => [id, op.snapshot()]).filter(([, s]) => s !== undefined)),
      eventsIn: this.eventsIn,
      recordsOut: this.recordsOut,
    };
    fs.mkdirSync(this.options.checkpointDir, { recursive: true });
    const tmp = `${this.checkpointPath}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(cp));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.checkpointPath);
    this.lastCheckpoint = Date.now();
  }

  private restore(): void {
    if (!fs.existsSync(this.checkpointPath)) return;
    const cp = JSON.parse(fs.readFileSync(this.checkpointPath, 'utf8')) as Checkpoint;
    this.wm = cp.watermark ?? -Infinity;
    this.eventsIn = cp.eventsIn ?? 0;
    this.recordsOut = cp.recordsOut ?? 0;
    for (const src of this.sources) {
      const s = cp.sources[src.id];
      if (!s) continue;
      s.positions.forEach((o, p) => { if (p < src.positions.length) src.positions[p] = o; });
      s.maxTs.forEach((t, p) => { if (p < src.maxTs.length) src.maxTs[p] = t ?? -Infinity; });
    }
    for (const [id, state] of Object.entries(cp.operators)) this.operators.get(id)?.restore(state);
  }
}

/** A dead-letter record: the event, where it came from and why it was refused. */
export function deadLetter(topic: string, partition: number | null, offset: number | null, event: unknown, code: string, error: string): AppendRecord {
  return { key: topic, value: { topic, partition, offset, code, error, event } };
}
