import path from 'node:path';
import { durationMs } from '../core/duration.js';
import { InvalidArgumentError, PipelineDefinitionError, RivuletError } from '../core/errors.js';
import type { SavepointManifest } from './checkpoint/savepoint.js';
import type { Log } from '../log/log.js';
import type { Extractor } from './graph.js';
import { PipelineBuilder, stateOptions, type GeneratorDeclaration, type PipelineDefinition, type PipelineGraph } from './pipeline.js';
import { DEAD_LETTER_TOPIC, PipelineTask, type TaskStatus } from './task.js';
import { LmdbStateBackend } from '../state/lmdb-backend.js';
import { MemoryStateBackend } from '../state/memory-backend.js';
import type { StateBackend } from '../state/state-backend.js';

/** How events written into a topic from outside are checked and keyed, as declared by the pipelines that read it. */
export interface IngestRules {
  /** Every event must give a valid time through each of these. */
  time: Extractor<never, unknown>[];
  key?: Extractor<never, string | number | null | undefined>;
}

/** Options of {@link Engine}. */
export interface EngineOptions {
  log: Log;
  /** Where checkpoints are written. */
  dataDir: string;
  /** Called when a pipeline stops on an error. */
  onFailure?: (pipeline: string, error: Error) => void;
}

/**
 * Runs a set of pipelines against one log: declares their topics, starts a task per pipeline and
 * stops them with a final checkpoint.
 */
export class Engine {
  private readonly graphs: PipelineGraph[] = [];
  private readonly definitions = new Map<string, PipelineDefinition>();
  private readonly tasks: PipelineTask[] = [];
  private readonly ingest = new Map<string, IngestRules>();

  constructor(private readonly options: EngineOptions) {}

  /** Adds a pipeline: runs its `setup` and creates the topics it declares. */
  async add(definition: PipelineDefinition): Promise<void> {
    if (!definition || typeof definition.name !== 'string' || typeof definition.setup !== 'function') {
      throw new PipelineDefinitionError('a pipeline must be an object with a string `name` and a `setup(app)` function (see definePipeline)');
    }
    if (this.definitions.has(definition.name)) throw new PipelineDefinitionError(`two pipelines are named '${definition.name}'`);
    const stateKind = stateOptions(definition).kind;
    if (stateKind !== 'memory' && stateKind !== 'lmdb') {
      throw new PipelineDefinitionError(`pipeline '${definition.name}': state must be 'memory' or 'lmdb', got ${JSON.stringify(stateKind)}`);
    }
    const builder = new PipelineBuilder(definition.name);
    definition.setup(builder);
    const graph = builder.graph;
    this.checkWriters(graph);
    await this.options.log.createTopic(DEAD_LETTER_TOPIC);
    for (const t of graph.topics) {
      await this.options.log.createTopic(t.name, t.partitions === undefined ? {} : { partitions: t.partitions });
      if (t.time !== undefined || t.key !== undefined) {
        const rules = this.ingest.get(t.name) ?? { time: [] };
        if (t.time !== undefined) rules.time.push(t.time);
        if (t.key !== undefined) rules.key ??= t.key;
        this.ingest.set(t.name, rules);
      }
    }
    this.definitions.set(definition.name, definition);
    this.graphs.push(graph);
  }

  /**
   * A pipeline is the only writer of its output topics: that is what lets it repair its appends
   * after a crash by offsets alone (see `checkpoint/epoch-outputs.ts`).
   */
  private checkWriters(graph: PipelineGraph): void {
    for (const topic of graph.outputs) {
      if (topic === DEAD_LETTER_TOPIC) throw new PipelineDefinitionError(`pipeline '${graph.name}' writes '${DEAD_LETTER_TOPIC}', which Rivulet writes itself; choose another topic`);
      const other = this.writerOf(topic);
      if (other !== undefined) {
        throw new PipelineDefinitionError(`pipelines '${other}' and '${graph.name}' both write topic '${topic}': a topic has one writing pipeline (union the streams in one pipeline, or write two topics)`);
      }
    }
    const all = [...this.graphs, graph];
    for (const g of graph.generators) {
      const writer = all.find((other) => other.outputs.includes(g.topic));
      if (writer) throw new PipelineDefinitionError(`a generator of pipeline '${graph.name}' writes topic '${g.topic}', which pipeline '${writer.name}' writes`);
    }
    for (const topic of graph.outputs) {
      const gen = this.graphs.find((other) => other.generators.some((x) => x.topic === topic));
      if (gen) throw new PipelineDefinitionError(`pipeline '${graph.name}' writes topic '${topic}', which a generator of pipeline '${gen.name}' writes`);
    }
  }

  /**
   * The pipeline that writes `topic`, if one does: nothing else may append to it. An exchange topic
   * (`_x.<pipeline>.…`, written by a pipeline's tasks on workers) belongs to its pipeline even where
   * this engine does not run it.
   */
  writerOf(topic: string): string | undefined {
    const exchange = /^_x\.(.+)\.\d+of\d+$/.exec(topic);
    if (exchange) return exchange[1];
    return this.graphs.find((g) => g.outputs.includes(topic))?.name;
  }

  /**
   * The watermark up to which the pipeline writing `topic` has appended all its results (its
   * {@link TaskStatus.publishedWatermark}): null before its first commit, undefined when no pipeline writes it.
   */
  publishedWatermarkOf(topic: string): number | null | undefined {
    const writer = this.writerOf(topic);
    if (writer === undefined) return undefined;
    return this.tasks.find((t) => t.pipeline === writer)?.publishedWatermark ?? null;
  }

  /** The graph of an added pipeline. */
  graphOf(pipeline: string): PipelineGraph | undefined {
    return this.graphs.find((g) => g.name === pipeline);
  }

  /** Starts every added pipeline. */
  start(): void {
    for (const graph of this.graphs) {
      const def = this.definitions.get(graph.name)!;
      if (graph.sources.length === 0) continue;
      const task = new PipelineTask({
        log: this.options.log,
        graph,
        state: createStateBackend(def, path.join(this.options.dataDir, 'state', graph.name)),
        checkpointDir: path.join(this.options.dataDir, 'checkpoints'),
        checkpointIntervalMs: durationMs(def.checkpointInterval ?? '1s', `checkpointInterval of pipeline '${graph.name}'`),
        onFailure: (err) => this.options.onFailure?.(graph.name, err),
      });
      task.start();
      this.tasks.push(task);
    }
  }

  /** Stops every pipeline after its current batch, with a final commit. */
  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop()));
  }

  /**
   * Writes a savepoint of a running pipeline under `<dataDir>/savepoints/<pipeline>/<name>` (default
   * name: the time, e.g. `2026-11-22T20-15-00.123Z`) and resolves with its manifest and directory.
   */
  async savepoint(pipeline: string, name?: string): Promise<{ manifest: SavepointManifest; dir: string }> {
    const task = this.tasks.find((t) => t.pipeline === pipeline);
    if (!task) throw new RivuletError('unknown_pipeline', `no running pipeline is named '${pipeline}'`);
    const n = name ?? new Date().toISOString().replace(/:/g, '-');
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(n) || n.startsWith('.')) throw new InvalidArgumentError(`savepoint name must be 1-100 of A-Z a-z 0-9 . _ - (not starting with .), got ${JSON.stringify(n)}`);
    const dir = path.join(this.options.dataDir, 'savepoints', pipeline, n);
    return { manifest: await task.savepoint(dir, n), dir };
  }

  ingestRules(topic: string): IngestRules | undefined {
    return this.ingest.get(topic);
  }

  /**
   * The pipelines that read or write `topic` (every pipeline may write the dead-letter topic), so that
   * topic administration can refuse to delete a topic that running pipelines depend on.
   */
  pipelinesUsing(topic: string): string[] {
    return this.graphs.filter((g) => topic === DEAD_LETTER_TOPIC || g.topics.some((t) => t.name === topic)).map((g) => g.name);
  }

  /** Names of the views the pipelines declared (each is also a topic). */
  views(): string[] {
    return [...new Set(this.graphs.flatMap((g) => g.views))];
  }

  generators(): GeneratorDeclaration[] {
    return this.graphs.flatMap((g) => g.generators);
  }

  status(): TaskStatus[] {
    return this.tasks.map((t) => t.status());
  }
}

/** The state backend a pipeline asked for, with its directory under the data directory. */
function createStateBackend(def: PipelineDefinition, dir: string): StateBackend {
  const options = stateOptions(def);
  switch (options.kind) {
    case 'memory':
      return new MemoryStateBackend();
    case 'lmdb':
      return new LmdbStateBackend({ dir, maxPendingChanges: options.maxPendingChanges });
    default:
      throw new PipelineDefinitionError(`pipeline '${def.name}': state must be 'memory' or 'lmdb', got ${JSON.stringify((options as { kind: unknown }).kind)}`);
  }
}
