import { RivuletError } from '../core/errors.js';
import type { AppendRecord } from '../core/record.js';
import { describeValue, toEpochMillis } from '../core/time.js';
import { EmptyReads } from '../log/empty-reads.js';
import type { Log } from '../log/log.js';
import { serialize, deserialize } from 'node:v8';
import { checkpointPath, type Checkpoint } from './checkpoint/checkpoint-file.js';
import { FileCheckpointStore, type CheckpointStore } from './checkpoint/checkpoint-store.js';
import { EpochOutputs, publishSealed, type PlacedRecord, type SealedTopicOutputs } from './checkpoint/epoch-outputs.js';
import { writeSavepoint, type SavepointManifest } from './checkpoint/savepoint.js';
import { checkSchemas, stateSchemas } from './checkpoint/state-schema.js';
import { compileChildren, type KeyByCompiler } from './compile.js';
import type { ExchangeOperator } from './parallel/exchange.js';
import { taskKeyByCompiler } from './parallel/task-compiler.js';
import { currentPart, type LinkPart } from './parallel/links.js';
import { MemoryStateBackend } from '../state/memory-backend.js';
import type { StateBackend } from '../state/state-backend.js';
import { extract, type Extractor } from './graph.js';
import { isEdgeTimed, type Operator, type OperatorMetrics } from './operators/operator.js';
import { ProcessOperator } from './operators/process.js';
import { SinkOperator } from './operators/sink.js';
import { SourceEdges } from './source-edges.js';
import type { PipelineGraph } from './pipeline.js';

/** How often processing-time timers are checked while some are pending. */
const TICK_MS = 50;
/** A task that has read everything available commits what it did after at most this long (or its interval, if shorter). */
const IDLE_COMMIT_MS = 100;
/** Output records an epoch may gather before it commits early: bounds the memory of a busy task. */
const MAX_EPOCH_RECORDS = 100_000;

/** The topic that receives events Rivulet could not accept or process, with the reason. */
export const DEAD_LETTER_TOPIC = '_deadletter';

/** Options of a {@link PipelineTask}. */
export interface TaskOptions {
  log: Log;
  graph: PipelineGraph;
  /** Directory of checkpoint files, one per pipeline. */
  checkpointDir: string;
  /** The longest an epoch lasts while the task is busy; a task that caught up commits within 100 ms. */
  checkpointIntervalMs: number;
  /** Records read from one partition at a time. Default 1000. */
  readBatch?: number;
  /** Called once if the task stops because of an error. */
  onFailure?: (error: Error) => void;
  /** Where operators keep keyed state. Default: in memory. The task closes it when it stops. */
  state?: StateBackend;
  /**
   * Runs one share of the pipeline (workers, `src/engine/distributed/`): task `index` of `count` reads
   * the source partitions `p` with `p % count === index`, and each `keyBy` sends every event to the
   * task that owns its key through exchange topics. Default: the whole pipeline in this task.
   */
  split?: TaskSplit;
  /** Where checkpoints are kept. Default: the file `<checkpointDir>/<pipeline>.json`. */
  checkpoints?: CheckpointStore;
}

/** Which share of a pipeline a task runs. */
export interface TaskSplit {
  index: number;
  count: number;
}

/**
 * The topic through which task `from` of a split pipeline sends keyed events to the others: partition
 * `p` holds what goes to task `p`. Each task is the only writer of its own, so its appends are fenced
 * by offsets like any output.
 */
export function exchangeTopic(pipeline: string, from: number, count: number): string {
  // The count is in the name: tasks of another split (more partitions) start with exchanges of their own.
  return `_x.${pipeline}.${from}of${count}`;
}

/** An exchange topic a split task reads: what task `from` sends it. */
interface LinkRuntime {
  id: string;
  from: number;
  topic: string;
  /** Positions per partition; only this task's partition is read, the others stay at their end. */
  positions: number[];
}

/** What one task of a split pipeline sends another in one record of its exchange topic. */
interface LinkMessage {
  /** Keyed events and watermarks, per exchange. */
  p: LinkPart[];
  /** Results for output partitions the receiver owns. */
  o: { topic: string; records: PlacedRecord[] }[];
}

/** The largest record of an exchange topic; larger messages go in pieces. */
const LINK_RECORD_BYTES = 512 * 1024;

/** A position that no end offset reaches: what a task waits at on partitions it does not read. */
const NEVER = Number.MAX_SAFE_INTEGER;

/** What a running pipeline reports. */
export interface TaskStatus {
  pipeline: string;
  state: 'created' | 'running' | 'stopped' | 'failed';
  error?: string;
  /** The pipeline's event-time watermark in epoch ms, or null before any event. */
  watermark: number | null;
  /**
   * The watermark of the last commit whose outputs are all in the log, or null: every result of a
   * window that ended at or before it has been appended to the output topics.
   */
  publishedWatermark: number | null;
  /** Events read and committed. */
  eventsIn: number;
  /** Output records committed and appended. */
  recordsOut: number;
  lateEvents: number;
  /** Next offset to read per partition of each source topic (read, not necessarily committed). */
  positions: Record<string, number[]>;
  /** Epochs committed since the pipeline first ran. */
  epoch: number;
  /** Duration of the last commit of this run, or null before the first. */
  lastCommitSeconds: number | null;
}

interface SourceRuntime {
  id: string;
  topic: string;
  time?: Extractor<never, unknown>;
  outOfOrderness: number;
  idleTimeout: number | undefined;
  edges: SourceEdges;
  /** The partitions this task reads (all, unless the pipeline is split over tasks). */
  owned: boolean[];
  positions: number[];
  /** Largest event time seen per partition. */
  maxTs: number[];
  nonEmpty: boolean[];
  /** Wall-clock time each partition last brought new records (or the task started). */
  lastActive: number[];
}

/**
 * Runs one pipeline: reads its source partitions in batches, tracks event time, pushes batches through
 * the operators and commits its progress in epochs.
 *
 * The watermark of a source is the smallest (largest event time seen − out-of-orderness) over its
 * partitions that hold records; the pipeline's watermark is the smallest over its sources.
 *
 * Exactly-once: outputs are held back until the epoch commits. A commit writes one checkpoint holding
 * the input positions, the operators' state and the epoch's outputs (with the partition and offset
 * each will take), then appends the outputs. Readers of the output topics therefore see committed
 * results only; after a crash the task restores the last checkpoint, appends whatever of its outputs
 * the log does not hold yet, and reads on from its positions: nothing is lost, nothing written twice.
 */
export class PipelineTask {
  private readonly sources: SourceRuntime[] = [];
  private readonly operators = new Map<string, Operator>();
  private readonly sinks: SinkOperator[] = [];
  private readonly processOperators: ProcessOperator[] = [];
  /** Split tasks: the exchanges (one per keyBy) and the topics that feed them. */
  private readonly exchanges: ExchangeOperator[] = [];
  private readonly links: LinkRuntime[] = [];
  private readonly emptyReads = new EmptyReads();
  private readonly abort = new AbortController();
  private readonly readBatch: number;
  private readonly checkpointPath: string;
  private readonly checkpoints: CheckpointStore;
  private readonly outputs: EpochOutputs;
  private readonly state: StateBackend;
  /** The shape of each stateful operator's state, checked against the checkpoint's at start. */
  private readonly schemas: Record<string, string>;
  private wm = -Infinity;
  private phase: TaskStatus['state'] = 'created';
  private error: Error | undefined;
  private loop: Promise<void> | undefined;
  /** Counters as of the last commit whose outputs are appended: what status() reports. */
  private eventsIn = 0;
  private recordsOut = 0;
  /** Events read since the last commit. */
  private epochEvents = 0;
  private epoch = 0;
  private lastCommit = 0;
  /** How long the last commit took, and commits in this run. */
  private lastCommitMs = 0;
  private commits = 0;
  /** Outputs of the restored checkpoint, to append (what is missing of them) before reading on. */
  private publishedWm: number | null = null;
  private recovered: { outputs: SealedTopicOutputs[]; committedAt: number } | undefined;
  /** The last commit's state on its way to disk: the next commit waits for it. */
  private stateDurable: Promise<void> = Promise.resolve();
  /** Topics the last commit appended to: the next commit waits until they are on disk. */
  private appendedTopics = new Set<string>();

  constructor(private readonly options: TaskOptions) {
    this.readBatch = options.readBatch ?? 1000;
    this.checkpointPath = checkpointPath(options.checkpointDir, options.graph.name);
    this.checkpoints = options.checkpoints ?? new FileCheckpointStore(this.checkpointPath);
    this.outputs = new EpochOutputs(options.log);
    this.state = options.state ?? new MemoryStateBackend();
    this.schemas = stateSchemas(options.graph.sources);
    const split = options.split;
    let keyBy: KeyByCompiler | undefined;
    if (split) {
      // Every event crosses: no two-phase aggregation across workers (docs/semantics.md, "Workers").
      keyBy = taskKeyByCompiler({ task: split.index, tasks: split.count }, false, this.exchanges);
      for (let from = 0; from < split.count; from++) {
        if (from === split.index) continue;
        const topic = exchangeTopic(options.graph.name, from, split.count);
        const partitions = options.log.describeTopic(topic)?.partitions;
        if (partitions !== split.count) throw new RivuletError('unknown_topic', `pipeline '${options.graph.name}' task ${split.index}: exchange topic '${topic}' must exist with ${split.count} partitions`);
        this.links.push({ id: `link:${from}`, from, topic, positions: Array.from({ length: partitions }, (_, p) => (p === split.index ? 0 : NEVER)) });
      }
    }
    for (const node of options.graph.sources) {
      const partitions = options.log.describeTopic(node.topic)?.partitions;
      if (partitions === undefined) throw new RivuletError('unknown_topic', `pipeline '${options.graph.name}' reads topic '${node.topic}', which does not exist`);
      this.sources.push({
        id: node.id,
        topic: node.topic,
        time: node.time,
        outOfOrderness: node.outOfOrderness,
        idleTimeout: node.idleTimeout,
        edges: new SourceEdges(compileChildren(node, this.operators, keyBy, this.state)),
        owned: Array.from({ length: partitions }, (_, p) => !split || p % split.count === split.index),
        positions: new Array(partitions).fill(0),
        maxTs: new Array(partitions).fill(-Infinity),
        nonEmpty: new Array(partitions).fill(false),
        lastActive: new Array(partitions).fill(Date.now()),
      });
    }
    // Across tasks an operator's watermark is what its input edges bring (the exchanges'), as in a parallel run.
    if (split) for (const op of this.operators.values()) if (isEdgeTimed(op)) op.edgeTimed = true;
    for (const op of this.operators.values()) if (op instanceof SinkOperator) this.sinks.push(op);
    for (const op of this.operators.values()) if (op instanceof ProcessOperator) this.processOperators.push(op);
  }

  /** The pipeline's name. */
  get pipeline(): string {
    return this.options.graph.name;
  }

  /** See {@link TaskStatus.publishedWatermark}. */
  get publishedWatermark(): number | null {
    return this.publishedWm;
  }

  /**
   * Restores the last checkpoint, if any, and starts processing in the background. A task whose
   * checkpoints are not in a file is given what its store read (`restored`).
   */
  start(restored?: { checkpoint: Checkpoint | undefined }): void {
    if (restored) this.restore(restored.checkpoint);
    else if (this.checkpoints instanceof FileCheckpointStore) this.restore(this.checkpoints.readNow());
    else throw new RivuletError('checkpoint_not_read', `pipeline '${this.options.graph.name}': read the checkpoint from its store and pass it to start()`);
    this.phase = 'running';
    this.lastCommit = Date.now();
    this.loop = this.run().catch((err: unknown) => {
      this.error = err instanceof Error ? err : new Error(String(err));
      this.phase = 'failed';
      this.options.onFailure?.(this.error);
    });
  }

  private stopping: Promise<void> | undefined;
  /** Savepoints asked for, served by the loop between batches. */
  private savepoints: { dir: string; name: string; resolve: (m: SavepointManifest) => void; reject: (e: unknown) => void }[] = [];
  /** Wakes the loop while it waits for records. */
  private wake: (() => void) | undefined;

  /**
   * Commits now and writes a savepoint of the committed state into `dir` (see `checkpoint/savepoint.ts`).
   * Resolves with its manifest once it is complete.
   */
  savepoint(dir: string, name: string): Promise<SavepointManifest> {
    if (!(this.checkpoints instanceof FileCheckpointStore)) {
      return Promise.reject(new RivuletError('savepoint_unsupported', `pipeline '${this.options.graph.name}' keeps its checkpoints on the log's servers: savepoints are taken of pipelines run by one process`));
    }
    if (this.phase !== 'running' || this.stopping) {
      return Promise.reject(new RivuletError('pipeline_not_running', `pipeline '${this.options.graph.name}' is ${this.stopping ? 'stopping' : this.phase}: a savepoint needs it running`));
    }
    return new Promise((resolve, reject) => {
      this.savepoints.push({ dir, name, resolve, reject });
      this.wake?.();
    });
  }

  private async serveSavepoints(): Promise<void> {
    const requests = this.savepoints;
    this.savepoints = [];
    try {
      await this.commit();
      await this.stateDurable;
    } catch (err) {
      for (const r of requests) r.reject(err);
      throw err;
    }
    const sources = Object.fromEntries(this.sources.map((s) => [s.id, s.topic]));
    for (const r of requests) {
      try {
        r.resolve(await writeSavepoint(r.dir, r.name, this.checkpointPath, this.state, sources));
      } catch (err) {
        r.reject(err);
      }
    }
  }

  /** Stops after the batch in progress and commits what was done; later calls wait for the first. */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  /**
   * Stops at once without committing: for a task whose worker lost it to another (its lease expired).
   * What it did since its last commit is left to the new owner, which redoes it from that commit.
   */
  async abandon(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.abort.abort();
      this.wake?.();
      await this.loop;
      if (this.phase === 'running') this.phase = 'stopped';
      await this.state.close();
    })();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    this.abort.abort();
    await this.loop;
    for (const r of this.savepoints.splice(0)) r.reject(new RivuletError('pipeline_not_running', `pipeline '${this.options.graph.name}' stopped before the savepoint`));
    try {
      if (this.phase === 'running') {
        await this.commit();
        await this.stateDurable;
        this.phase = 'stopped';
      }
    } finally {
      await this.state.close();
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
      state: this.phase,
      ...(this.error ? { error: this.error.message } : {}),
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      publishedWatermark: this.publishedWm,
      eventsIn: this.eventsIn,
      recordsOut: this.recordsOut,
      lateEvents,
      positions: Object.fromEntries(this.sources.map((s) => [s.topic, [...s.positions]])),
      epoch: this.epoch,
      lastCommitSeconds: this.commits > 0 ? this.lastCommitMs / 1000 : null,
    };
  }

  private async run(): Promise<void> {
    const { log } = this.options;
    const signal = this.abort.signal;
    // Another process may have run this task before (a worker that died): what this process knows of
    // the topics' ends may be behind them. Outputs are placed by end offset, so it must not be.
    const split = this.options.split;
    const touched = new Set([...this.sources.map((s) => s.topic), ...this.links.map((l) => l.topic), ...this.sinks.map((s) => s.topic), DEAD_LETTER_TOPIC,
      ...(split ? [exchangeTopic(this.options.graph.name, split.index, split.count)] : [])]);
    await Promise.all([...touched].filter((t) => log.describeTopic(t) !== undefined).map((t) => log.refresh(t)));
    if (this.recovered) {
      await publishSealed(log, this.options.graph.name, this.recovered.outputs, this.recovered.committedAt);
      this.appendedTopics = new Set(this.recovered.outputs.map((t) => t.topic));
      this.recovered = undefined;
      this.publishedWm = Number.isFinite(this.wm) ? this.wm : null;
    }
    const idleTimeouts = this.sources.map((s) => s.idleTimeout).filter((t): t is number => t !== undefined);
    const idleCheckMs = idleTimeouts.length > 0 ? Math.max(10, Math.min(...idleTimeouts) / 4) : undefined;
    while (!signal.aborted) {
      if (this.savepoints.length > 0) await this.serveSavepoints();
      let got = 0;
      const now = Date.now();
      // Which partitions hold records, for every source before reading any: a source read later in the
      // round must not be left out of the watermark of the events read before it.
      const endsOf = this.sources.map((src) => {
        const ends = log.endOffsets(src.topic);
        for (let p = 0; p < ends.length; p++) {
          if (!src.owned[p]) continue;
          src.nonEmpty[p] = ends[p]! > 0;
          // Records waiting: the partition is not idle, even before this round reaches it.
          if (ends[p]! > src.positions[p]!) src.lastActive[p] = now;
        }
        return ends;
      });
      for (const [i, src] of this.sources.entries()) {
        const ends = endsOf[i]!;
        for (let p = 0; p < src.positions.length; p++) {
          if (!src.owned[p] || ends[p]! <= src.positions[p]! || this.emptyReads.pointless(`${src.topic}/${p}`, ends[p]!)) continue;
          const records = await log.read(src.topic, p, src.positions[p]!, this.readBatch);
          if (records.length === 0) {
            this.emptyReads.note(`${src.topic}/${p}`, ends[p]!);
            continue;
          }
          src.lastActive[p] = now;
          for (const r of records) {
            let ts = r.timestamp;
            if (src.time !== undefined) {
              const raw = extract(src.time, r.value as never);
              const t = toEpochMillis(raw);
              if (t === undefined) {
                this.outputs.add(DEAD_LETTER_TOPIC, [deadLetter(src.topic, r.partition, r.offset, r.value, 'invalid_event_time',
                  `event time ${typeof src.time === 'string' ? `'${src.time}' ` : ''}is ${describeValue(raw)}, not epoch milliseconds or an ISO-8601 string`,
                  this.options.graph.name, r.timestamp)], 'dead-letter');
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
      const linked = await this.readLinks();
      const wmBefore = this.wm;
      if (idleCheckMs !== undefined) {
        // Partitions may have gone idle since the last records: that can move the watermark by itself.
        const wm = this.computeWatermark(Date.now());
        if (wm > this.wm) this.wm = wm;
      }
      const ticking = this.processOperators.some((op) => op.wantsTicks);
      if (ticking) for (const op of this.processOperators) op.tick(Date.now());
      if (got > 0 || linked > 0 || this.wm > wmBefore || (ticking && this.sinks.some((s) => s.pending.length > 0))) {
        for (const src of this.sources) src.edges.watermark(this.wm);
        this.gatherOutputs();
        this.epochEvents += got;
        if (Date.now() - this.lastCommit >= this.options.checkpointIntervalMs || this.outputs.size >= MAX_EPOCH_RECORDS || this.state.commitSoon) await this.commit();
        continue;
      }
      // Caught up: commit soon, so that results show without waiting for the interval.
      const uncommitted = this.epochEvents > 0 || this.outputs.size > 0;
      // At most every 100 ms, and never more than a tenth of the time: a commit's cost grows with the state.
      const pause = Math.min(this.options.checkpointIntervalMs, Math.max(IDLE_COMMIT_MS, 10 * this.lastCommitMs));
      const commitInMs = uncommitted ? this.lastCommit + pause - Date.now() : undefined;
      if (commitInMs !== undefined && commitInMs <= 0) {
        await this.commit();
        continue;
      }
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      // A stop that came while this round read or committed: its abort event has passed already.
      if (signal.aborted) ac.abort();
      const retryMs = this.emptyReads.pending ? this.emptyReads.retryAfterMs : undefined;
      const wakeMs = [ticking ? TICK_MS : undefined, idleCheckMs, commitInMs, retryMs].reduce<number | undefined>((a, b) => (b === undefined ? a : a === undefined ? b : Math.min(a, b)), undefined);
      const timer = wakeMs === undefined ? undefined : setTimeout(() => ac.abort(), wakeMs);
      this.wake = () => ac.abort();
      if (this.savepoints.length === 0) {
        await Promise.race([
          ...this.sources.map((s) => log.waitForRecords(s.topic, s.owned.map((mine, p) => (mine ? this.emptyReads.waitFrom(`${s.topic}/${p}`, s.positions[p]!) : NEVER)), ac.signal)),
          ...this.links.map((l) => log.waitForRecords(l.topic, l.positions.map((o, p) => this.emptyReads.waitFrom(`${l.topic}/${p}`, o)), ac.signal)),
        ]);
      }
      this.wake = undefined;
      clearTimeout(timer);
      ac.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads what the other tasks sent this one through their exchange topics and hands it to the
   * exchanges. Returns the records read.
   */
  private async readLinks(): Promise<number> {
    const index = this.options.split?.index ?? 0;
    let got = 0;
    for (const link of this.links) {
      const end = this.options.log.endOffsets(link.topic)[index]!;
      if (end <= link.positions[index]! || this.emptyReads.pointless(`${link.topic}/${index}`, end)) continue;
      const records = await this.options.log.read(link.topic, index, link.positions[index]!, this.readBatch);
      if (records.length === 0) this.emptyReads.note(`${link.topic}/${index}`, end);
      let pieces: Uint8Array[] = [];
      let next = link.positions[index]!;
      for (const r of records) {
        let bytes = r.value as Uint8Array;
        if (r.key !== null) {
          // A message in pieces: whole once its last piece is read; a read that ends before it goes
          // on from its first piece next time.
          const [i, n] = r.key.split('/').map(Number) as [number, number];
          if (i === 0) pieces = [];
          pieces.push(bytes);
          if (i < n - 1) continue;
          bytes = Buffer.concat(pieces);
          pieces = [];
        }
        next = r.offset + 1;
        const message = deserialize(bytes) as LinkMessage;
        for (const read of message.p) {
          const part = currentPart(read);
          const x = this.exchanges[part.x]!;
          if ('wm' in part) x.receiveWatermark(link.from, part.wm);
          else x.receiveRemote(part);
        }
        for (const { topic, records: results } of message.o) this.outputs.addPlaced(topic, results);
      }
      link.positions[index] = Math.max(link.positions[index]!, next);
      got += records.length;
    }
    return got;
  }

  /**
   * Moves what the sinks gathered, and what the exchanges send other tasks, into the epoch's outputs.
   *
   * A split task writes only the output partitions it owns (`p % count === index`), so that each
   * partition keeps one writer and its appends stay fenced by offsets; results for the others go
   * to their owners with the exchanged events.
   */
  private gatherOutputs(): void {
    const split = this.options.split;
    if (!split) {
      for (const sink of this.sinks) {
        if (sink.pending.length === 0) continue;
        this.outputs.add(sink.topic, sink.pending);
        sink.pending = [];
      }
      return;
    }
    const forward: LinkMessage['o'][] = Array.from({ length: split.count }, () => []);
    for (const sink of this.sinks) {
      if (sink.pending.length === 0) continue;
      const mine: PlacedRecord[] = [];
      const theirs = new Map<number, PlacedRecord[]>();
      for (const r of this.outputs.place(sink.topic, sink.pending)) {
        const owner = r.partition % split.count;
        if (owner === split.index) mine.push(r);
        else {
          let list = theirs.get(owner);
          if (!list) theirs.set(owner, (list = []));
          list.push(r);
        }
      }
      sink.pending = [];
      this.outputs.addPlaced(sink.topic, mine);
      for (const [owner, records] of theirs) forward[owner]!.push({ topic: sink.topic, records });
    }
    const topic = exchangeTopic(this.options.graph.name, split.index, split.count);
    const now = Date.now();
    for (let peer = 0; peer < split.count; peer++) {
      if (peer === split.index) continue;
      const parts: LinkPart[] = [];
      for (const x of this.exchanges) x.take(peer, parts, []);
      const o = forward[peer]!;
      if (parts.length === 0 && o.length === 0) continue;
      const bytes = serialize({ p: parts, o } satisfies LinkMessage);
      if (bytes.length <= LINK_RECORD_BYTES) {
        this.outputs.add(topic, [{ key: null, partition: peer, timestamp: now, value: bytes }]);
        continue;
      }
      // Larger than a record may be on every backend (NATS: 1 MiB): in pieces, keyed `<i>/<n>`, in one epoch.
      const n = Math.ceil(bytes.length / LINK_RECORD_BYTES);
      this.outputs.add(topic, Array.from({ length: n }, (_, i) => ({
        key: `${i}/${n}`, partition: peer, timestamp: now, value: bytes.subarray(i * LINK_RECORD_BYTES, (i + 1) * LINK_RECORD_BYTES),
      })));
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

  /**
   * Commits the epoch: waits until the records it read and those the last commit appended are on disk,
   * writes the checkpoint (positions, watermark, operator state, this epoch's outputs) atomically, then
   * appends the outputs. The checkpoint write is the commit point.
   */
  private async commit(): Promise<void> {
    const { log, graph } = this.options;
    const started = performance.now();
    this.gatherOutputs();
    await Promise.all([...[...new Set([...this.sources.map((s) => s.topic), ...this.appendedTopics])].map((t) => log.sync(t)), this.stateDurable]);
    const sealed = this.outputs.seal();
    let produced = 0;
    for (const t of sealed) for (const p of t.partitions) produced += p.records.length;
    const cp: Checkpoint = {
      version: 2,
      pipeline: graph.name,
      epoch: this.epoch + 1,
      committedAt: Date.now(),
      eventsIn: this.eventsIn + this.epochEvents,
      recordsOut: this.recordsOut + produced,
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      sources: Object.fromEntries([
        ...this.sources.map((s) => [s.id, { positions: [...s.positions], maxTs: s.maxTs.map((t) => (Number.isFinite(t) ? t : null)) }]),
        ...this.links.map((l) => [l.id, { positions: l.positions.map((o) => (o === NEVER ? 0 : o)), maxTs: [] }]),
      ]),
      placement: this.outputs.placement(),
      schemas: this.schemas,
      operators: Object.fromEntries([...this.operators].map(([id, op]) => [id, op.snapshot()]).filter(([, s]) => s !== undefined)),
      outputs: sealed,
      state: this.state.capture(),
    };
    await this.checkpoints.write(cp);
    // Applied now; durable in the background until the next commit waits for it (above).
    const durable = this.state.committed(cp.epoch, cp.state!);
    durable.catch(() => undefined);
    this.stateDurable = durable;
    this.epoch = cp.epoch;
    this.epochEvents = 0;
    this.lastCommit = Date.now();
    await publishSealed(log, graph.name, sealed, cp.committedAt);
    this.publishedWm = cp.watermark;
    this.appendedTopics = new Set(sealed.map((t) => t.topic));
    // Counted once the outputs are in the log, so that a reader seeing the counts also sees the results.
    this.eventsIn = cp.eventsIn;
    this.recordsOut = cp.recordsOut;
    this.lastCommitMs = performance.now() - started;
    this.commits++;
  }

  private restore(cp: Checkpoint | undefined): void {
    if (cp) checkSchemas(this.options.graph.name, cp.schemas, this.schemas);
    this.state.recover(cp?.epoch ?? 0, cp?.state);
    if (!cp) return;
    this.wm = cp.watermark ?? -Infinity;
    this.epoch = cp.epoch;
    this.eventsIn = cp.eventsIn ?? 0;
    this.recordsOut = cp.recordsOut ?? 0;
    for (const src of this.sources) {
      const s = cp.sources[src.id];
      if (!s) continue;
      s.positions.forEach((o, p) => { if (p < src.positions.length) src.positions[p] = o; });
      s.maxTs.forEach((t, p) => { if (p < src.maxTs.length) src.maxTs[p] = t ?? -Infinity; });
    }
    const index = this.options.split?.index ?? 0;
    for (const link of this.links) {
      const at = cp.sources[link.id]?.positions[index];
      if (at !== undefined) link.positions[index] = at;
    }
    for (const [id, state] of Object.entries(cp.operators)) this.operators.get(id)?.restore(state);
    this.outputs.restorePlacement(cp.placement);
    this.recovered = { outputs: cp.outputs, committedAt: cp.committedAt };
  }
}

/**
 * A dead-letter record: the event, where it came from and why it was refused. `pipeline` names the
 * pipeline that refused it (absent for events refused at ingest); `timestamp`, the refused record's
 * (so that a replay makes the same dead letter), else the time of the append.
 */
export function deadLetter(topic: string, partition: number | null, offset: number | null, event: unknown, code: string, error: string,
  pipeline?: string, timestamp?: number): AppendRecord {
  return { key: topic, value: { ...(pipeline === undefined ? {} : { pipeline }), topic, partition, offset, code, error, event }, ...(timestamp === undefined ? {} : { timestamp }) };
}
