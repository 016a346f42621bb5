import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { durationMs } from '../../core/duration.js';
import { InvalidArgumentError, PipelineDefinitionError, RivuletError } from '../../core/errors.js';
import { hasCoordination, type Coordination } from '../../log/coordination.js';
import type { Log } from '../../log/log.js';
import { DocumentCheckpointStore } from '../checkpoint/checkpoint-store.js';
import { Engine } from '../engine.js';
import { stateOptions, type PipelineDefinition, type PipelineGraph } from '../pipeline.js';
import { exchangeTopic, PipelineTask, type TaskStatus } from '../task.js';

/** Options of {@link WorkerNode.start}. */
export interface WorkerOptions {
  /** A log that processes share (NATS JetStream, Redis Streams): it holds the tasks' checkpoints and leases too. */
  log: Log;
  pipelines: PipelineDefinition[];
  /** Names this worker in leases and logs; unique among the workers. Default `<host>-<pid>`. */
  id?: string;
  /**
   * How long a worker's hold on a task lasts without renewal: a worker that dies loses its tasks to
   * the others after at most this long plus a third of it. Default 10,000 ms.
   */
  leaseMs?: number;
  /** Told of every task this worker takes, gives up or loses. Default: nothing. */
  onEvent?: (event: WorkerEvent) => void;
}

/** What a worker reports as it works. */
export type WorkerEvent =
  | { kind: 'took'; task: string }
  | { kind: 'released'; task: string }
  | { kind: 'lost'; task: string }
  | { kind: 'failed'; task: string; error: Error };

/** One task of a split pipeline: a share of its partitions. */
interface TaskSlot {
  name: string;
  pipeline: string;
  graph: PipelineGraph;
  index: number;
  count: number;
  checkpointIntervalMs: number;
}

interface Running {
  slot: TaskSlot;
  task: PipelineTask;
  /** When its lease was last taken or renewed (this process's clock). */
  renewedAt: number;
}

/**
 * A worker: one of several processes, on one machine or many, that share the pipelines' tasks over a
 * shared log. Each pipeline is split into as many tasks as its largest source topic has partitions;
 * task `i` reads the partitions `p` with `p % tasks === i`, and keyed streams cross between tasks
 * through exchange topics. Workers hold tasks by leases on the log's servers and take as many as
 * their fair share (tasks ÷ live workers, rounded up); a worker that stops or dies stops renewing,
 * and the others take its tasks over from their last checkpoints, stored on the same servers.
 *
 * Exactly-once holds across take-overs: a task's checkpoint is written with compare-and-set, so a
 * worker that lost a task cannot commit it any more, and outputs are appended at exact offsets
 * (`Log.appendAt`), so it cannot write them twice either.
 *
 * @example
 * ```ts
 * const log = await JetStreamLog.open({ servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], replicas: 3 });
 * const worker = await WorkerNode.start({ log, pipelines: [fraud] });
 * // … on SIGTERM
 * await worker.stop();
 * ```
 */
export class WorkerNode {
  private readonly running = new Map<string, Running>();
  private readonly slots: TaskSlot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  /**
   * What this process holds leases as: its id and a random part, so that two workers given the same
   * id (a copied command line) never take each other's leases for their own.
   */
  private readonly owner: string;
  /** Tasks being given back (their final commit under way), by name. */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Tasks that failed here, and when they may be taken again. */
  private readonly backoff = new Map<string, number>();

  private constructor(
    private readonly log: Log,
    private readonly coordination: Coordination,
    readonly id: string,
    private readonly leaseMs: number,
    private readonly onEvent: (event: WorkerEvent) => void,
  ) {
    this.owner = `${id}#${randomBytes(6).toString('hex')}`;
  }

  /** Declares the pipelines' topics (and exchange topics), then starts taking tasks. */
  static async start(options: WorkerOptions): Promise<WorkerNode> {
    const { log } = options;
    if (!hasCoordination(log)) {
      throw new InvalidArgumentError('workers share a log on servers (NATS JetStream or Redis Streams): the embedded log belongs to one process; use rivulet start', 'invalid_config');
    }
    const leaseMs = options.leaseMs ?? 10_000;
    if (!Number.isInteger(leaseMs) || leaseMs < 300) throw new InvalidArgumentError(`leaseMs must be an integer of at least 300, got ${leaseMs}`, 'invalid_config');
    const id = options.id ?? `${os.hostname()}-${process.pid}`;
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(id)) throw new InvalidArgumentError(`worker id must be 1-100 of A-Z a-z 0-9 . _ -, got '${id}'`, 'invalid_config');
    const node = new WorkerNode(log, log.coordination(), id, leaseMs, options.onEvent ?? (() => {}));
    // The engine declares topics and builds graphs exactly as a single process does.
    const engine = new Engine({ log, dataDir: os.tmpdir() });
    for (const def of options.pipelines) {
      if (stateOptions(def).kind !== 'memory') {
        throw new PipelineDefinitionError(`pipeline '${def.name}' keeps its state in LMDB, on one machine's disk; workers need state 'memory' (checkpointed to the log's servers)`);
      }
      await engine.add(def);
      const graph = engine.graphOf(def.name)!;
      if (graph.sources.length === 0) continue;
      const count = Math.max(...graph.sources.map((s) => log.describeTopic(s.topic)!.partitions));
      for (let i = 0; i < count; i++) await log.createTopic(exchangeTopic(def.name, i, count), { partitions: count });
      const checkpointIntervalMs = durationMs(def.checkpointInterval ?? '1s', `checkpointInterval of pipeline '${def.name}'`);
      for (let index = 0; index < count; index++) {
        node.slots.push({ name: `${def.name}/${index}of${count}`, pipeline: def.name, graph, index, count, checkpointIntervalMs });
      }
    }
    await node.tick();
    node.schedule();
    return node;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().catch((err: unknown) => console.error(`worker ${this.id}: ${(err as Error).message}`)).finally(() => this.schedule());
    }, Math.floor(this.leaseMs / 3));
  }

  /** The tasks this worker runs now. */
  status(): (TaskStatus & { task: string })[] {
    return [...this.running.values()].map((r) => ({ ...r.task.status(), task: r.slot.name }));
  }

  /** Renews what it holds, drops what it lost or what failed, and takes or gives back tasks toward its fair share. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    const c = this.coordination;
    // Renewing what it has comes first and does not wait for the rest: a request without an answer
    // (a server of the cluster just died) must not cost the other leases their renewal.
    await c.acquireLease(`worker/${this.id}`, this.owner, this.leaseMs).catch(() => undefined);
    await Promise.all([...this.running].map(async ([name, r]) => {
      const state = r.task.status().state;
      if (state === 'failed') {
        this.running.delete(name);
        await r.task.abandon();
        await c.releaseLease(`task/${name}`, this.owner).catch(() => undefined);
        this.backoff.set(name, Date.now() + this.leaseMs);
        this.onEvent({ kind: 'failed', task: name, error: new RivuletError('task_failed', r.task.status().error ?? 'failed') });
        return;
      }
      const asked = Date.now();
      let held: boolean | undefined;
      try {
        held = await c.acquireLease(`task/${name}`, this.owner, this.leaseMs);
      } catch {
        // No answer: the lease may or may not have been renewed. The task runs on until the lease
        // would have run out by this process's clock, and stops then (below) unless a renewal got through.
      }
      if (held) r.renewedAt = asked;
      if (held === false || (held === undefined && Date.now() - r.renewedAt >= this.leaseMs * 0.9)) {
        this.running.delete(name);
        await r.task.abandon();
        this.onEvent({ kind: 'lost', task: name });
      }
    }));
    const workers = Math.max(1, (await c.leases('worker/')).length);
    const fair = Math.ceil(this.slots.length / workers);
    if (this.running.size > fair) {
      // Give one back (with a final commit) for a worker that joined; one per round, so that the
      // workers converge without all letting go at once.
      // The final commit may take a while: it goes on beside the next rounds, so that the other
      // leases' renewals never wait for it; the lease is given back once it is done.
      const [name, r] = [...this.running].at(-1)!;
      this.running.delete(name);
      const release = (async () => {
        await r.task.stop().catch(() => undefined);
        await c.releaseLease(`task/${name}`, this.owner).catch(() => undefined);
        this.onEvent({ kind: 'released', task: name });
      })();
      this.releasing.set(name, release);
      void release.finally(() => this.releasing.delete(name));
      return;
    }
    // Start looking at a place of this worker's own, so that workers starting together try different tasks first.
    const start = [...this.id].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % Math.max(1, this.slots.length);
    for (let k = 0; k < this.slots.length && this.running.size < fair && !this.stopped; k++) {
      const slot = this.slots[(start + k) % this.slots.length]!;
      if (this.running.has(slot.name) || this.releasing.has(slot.name) || (this.backoff.get(slot.name) ?? 0) > Date.now()) continue;
      const asked = Date.now();
      if (!(await c.acquireLease(`task/${slot.name}`, this.owner, this.leaseMs))) continue;
      try {
        await this.run(slot, asked);
      } catch (err) {
        await c.releaseLease(`task/${slot.name}`, this.owner);
        this.backoff.set(slot.name, Date.now() + this.leaseMs);
        this.onEvent({ kind: 'failed', task: slot.name, error: err as Error });
      }
    }
  }

  private async run(slot: TaskSlot, leasedAt: number): Promise<void> {
    const checkpoints = new DocumentCheckpointStore(this.coordination, `checkpoint/${slot.name}`);
    const checkpoint = await checkpoints.read();
    const task = new PipelineTask({
      log: this.log,
      graph: slot.graph,
      checkpointDir: os.tmpdir(),
      checkpointIntervalMs: slot.checkpointIntervalMs,
      split: { index: slot.index, count: slot.count },
      checkpoints,
    });
    task.start({ checkpoint });
    this.running.set(slot.name, { slot, task, renewedAt: leasedAt });
    this.onEvent({ kind: 'took', task: slot.name });
  }

  /** Stops taking tasks, stops its tasks with a final commit and gives their leases back for the others. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.all(this.releasing.values());
    const c = this.coordination;
    await Promise.all([...this.running].map(async ([name, r]) => {
      await r.task.stop().catch(() => undefined);
      await c.releaseLease(`task/${name}`, this.owner);
      this.onEvent({ kind: 'released', task: name });
    }));
    this.running.clear();
    await c.releaseLease(`worker/${this.id}`, this.owner);
  }
}
