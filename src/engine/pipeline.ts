import { durationMs, type Duration } from '../core/duration.js';
import { PipelineDefinitionError } from '../core/errors.js';
import type { Aggregate, AggregateResults } from './aggregates.js';
import type { StateDescriptor } from './keyed-state.js';
import type { StateBackendOptions } from '../state/state-backend.js';
import type { ProcessFunction } from './operators/process.js';
import type { Extractor, GraphNode } from './graph.js';
import { resolveWindowOptions, type HoppingWindow, type TumblingWindow, type WindowOptions, type WindowSpec } from './windows.js';

/** Options of {@link PipelineBuilder.stream}: how to read a topic's events. */
export interface StreamOptions<T> {
  /**
   * The event time: a field name or a function of the event, giving epoch milliseconds, a Date or an
   * ISO-8601 string. HTTP ingest into the topic refuses events whose time is missing or of the wrong type.
   * Default: the record's timestamp (the time of the append).
   */
  time?: Extractor<T, unknown>;
  /** The key that routes the topic's events to partitions at ingest: a field name or a function. */
  key?: Extractor<T, string | number | null | undefined>;
  /** How far behind the largest event time seen the watermark stays. Default `'5s'`. */
  outOfOrderness?: Duration;
  /**
   * A partition that received nothing new for this long (wall-clock time) stops holding the watermark
   * back until it receives data again; events it then brings may be late. Default: never.
   */
  idleTimeout?: Duration;
  /** Partitions when this pipeline creates the topic. Default 4. */
  partitions?: number;
}

/** Options of {@link Stream.to}. */
export interface SinkOptions {
  /** Partitions when this pipeline creates the topic. Default 4. */
  partitions?: number;
  /**
   * Also materialize the topic as a view of the same name (latest value per key), queryable over HTTP
   * and WebSocket. Default: true for keyed streams, false otherwise.
   */
  view?: boolean;
}

/** Options of {@link PipelineBuilder.generate}: a synthetic source, for demos and load. */
export interface GeneratorOptions<T> {
  /** Events per second. */
  ratePerSecond: number;
  /** Makes the `i`-th event at wall-clock time `now` (epoch ms). */
  next: (i: number, now: number) => T;
  /** Routing key of each event. */
  key?: Extractor<T, string | number | null | undefined>;
}

/**
 * The result of a windowed aggregation: the group key, the window `[start, end)` and one field per
 * aggregate. Session windows with `allowedLateness` or `emit: 'update'` may also emit
 * `{ key, start, end, retracted: true }` (no aggregates) to withdraw a result whose session merged into another.
 */
export type WindowResult<K, R> = { key: K; start: number; end: number; retracted?: true } & R;

/** A topic that a pipeline reads (with its ingest rules) or writes. */
export interface TopicDeclaration {
  name: string;
  partitions?: number;
  time?: Extractor<never, unknown>;
  key?: Extractor<never, string | number | null | undefined>;
}

/** A generator declared by a pipeline. */
export interface GeneratorDeclaration {
  topic: string;
  options: GeneratorOptions<unknown>;
}

/** Everything a pipeline's `setup` declared: its graph, the topics it touches, views and generators. */
export interface PipelineGraph {
  name: string;
  sources: Extract<GraphNode, { kind: 'source' }>[];
  topics: TopicDeclaration[];
  /** The topics the pipeline writes (its sinks and late outputs): it is their only writer. */
  outputs: string[];
  views: string[];
  generators: GeneratorDeclaration[];
}

/**
 * A continuous query: a name and a `setup` function that declares the dataflow on the builder it is given.
 * Write one per module and load it with `rivulet start --pipeline ./fraud.ts` or from `rivulet.config.ts`.
 *
 * @example
 * ```ts
 * import { definePipeline, tumbling, count, sum } from 'rivulet';
 * interface Payment { card: string; amount: number; ts: number }
 * export default definePipeline({
 *   name: 'card-stats',
 *   setup(app) {
 *     app.stream<Payment>('payments', { time: 'ts', key: 'card' })
 *       .keyBy((p) => p.card)
 *       .window(tumbling('1m'))
 *       .aggregate({ n: count(), total: sum((p: Payment) => p.amount) })
 *       .to('card-stats');
 *   },
 * });
 * ```
 */
export interface PipelineDefinition<Outputs extends TopicOutput | readonly TopicOutput[] = TopicOutput | readonly TopicOutput[]> {
  /** Unique among the pipelines of one Rivulet process; names its checkpoint. */
  name: string;
  /**
   * Declares the pipeline's streams on `app`. It may return what its `.to()` calls returned (one, or a list), so that
   * the topics' value types reach clients: `TopicsOf<typeof pipeline>`.
   */
  setup(app: PipelineBuilder): Outputs | void;
  /**
   * The longest an epoch lasts while the pipeline is busy: its outputs become visible, and its progress
   * and state durable, when the epoch commits. A pipeline that has caught up with its input commits
   * within 100 ms. Default `'1s'`.
   */
  checkpointInterval?: Duration;
  /**
   * Where the pipeline keeps keyed state (running aggregates, `process` state): `'memory'` (default; every
   * checkpoint holds all of it) or `'lmdb'` (on disk under the data directory, larger than memory;
   * checkpoints hold what changed). See {@link StateBackendOptions}.
   */
  state?: 'memory' | 'lmdb' | StateBackendOptions;
}

/** A pipeline's state backend options with the default applied (`'memory'`). */
export function stateOptions(definition: PipelineDefinition): StateBackendOptions {
  const state = definition.state ?? 'memory';
  return typeof state === 'string' ? ({ kind: state } as StateBackendOptions) : state;
}

/**
 * Declares a pipeline; the identity function, there for type inference (of the outputs `setup`
 * returns, among others).
 *
 * @example
 * ```ts
 * const fraud = definePipeline({
 *   name: 'fraud',
 *   setup(app) {
 *     const alerts = app.stream<Payment>('payments', { time: 'ts' }).filter((p) => p.amount > 5000).to('alerts');
 *     return [alerts];
 *   },
 * });
 * type Topics = TopicsOf<typeof fraud>; // { alerts: Payment }
 * ```
 */
export function definePipeline<const Outputs extends TopicOutput | readonly TopicOutput[] = []>(definition: PipelineDefinition<Outputs>): PipelineDefinition<Outputs> {
  return definition;
}

/**
 * What `.to(topic)` returns: the topic's name and, for the type checker only, the type of its values.
 * Return these from `setup` to make a pipeline's output types known to {@link TopicsOf}.
 */
export interface TopicOutput<Name extends string = string, T = unknown> {
  readonly topic: Name;
  /** Never set: carries the value type. */
  readonly valueType?: T;
}

/**
 * The value types of the topics a pipeline's `setup` returns, by topic name: the type parameter of
 * `createClient` from `rivulet/client`, so that subscriptions and view rows are typed.
 *
 * @example
 * ```ts
 * const client = createClient<TopicsOf<typeof fraud>>({ url });
 * client.subscribe('alerts', { onRecords: (records) => records.map((r) => r.value.card) });
 * ```
 */
export type TopicsOf<P> = P extends PipelineDefinition<infer Outputs>
  ? { [Output in (Outputs extends readonly (infer One)[] ? One : Outputs) & TopicOutput as Output['topic']]: Output extends TopicOutput<string, infer T> ? T : never }
  : never;

/** The builder a pipeline's `setup` receives (`app` in the examples). */
export class PipelineBuilder {
  private nextId = 0;
  /** @internal */
  readonly graph: PipelineGraph;

  constructor(name: string) {
    this.graph = { name, sources: [], topics: [], outputs: [], views: [], generators: [] };
  }

  /** @internal */
  id(kind: string): string {
    let id: string;
    do id = `${kind}-${this.nextId++}`; while (this.ids.has(id));
    this.ids.add(id);
    return id;
  }

  private readonly ids = new Set<string>();

  /** @internal Whether `id` names a node already. */
  usesId(id: string): boolean {
    return this.ids.has(id);
  }

  /** @internal Records a node's new id (see {@link Stream.uid}). */
  renameNode(from: string, to: string): void {
    this.ids.delete(from);
    this.ids.add(to);
  }

  /** @internal Declares a topic the pipeline writes. */
  output(name: string, partitions?: number): void {
    this.graph.topics.push({ name, partitions });
    if (!this.graph.outputs.includes(name)) this.graph.outputs.push(name);
  }

  /** Reads a topic as a stream of events of type `T`. The topic is created when missing. */
  stream<T>(topic: string, options: StreamOptions<T> = {}): Stream<T> {
    const node: GraphNode = {
      kind: 'source',
      id: this.id('source'),
      topic,
      time: options.time as Extractor<never, unknown> | undefined,
      outOfOrderness: durationMs(options.outOfOrderness ?? '5s', `outOfOrderness of stream '${topic}'`),
      idleTimeout: options.idleTimeout === undefined ? undefined : durationMs(options.idleTimeout, `idleTimeout of stream '${topic}'`),
      children: [],
    };
    this.graph.sources.push(node);
    this.graph.topics.push({
      name: topic,
      partitions: options.partitions,
      time: options.time as Extractor<never, unknown> | undefined,
      key: options.key as Extractor<never, string | number | null | undefined> | undefined,
    });
    return new Stream<T>(this, node);
  }

  /** Declares a topic (and its partitions) without reading it, e.g. one that only HTTP clients write. */
  topic(name: string, options: { partitions?: number } = {}): void {
    this.graph.topics.push({ name, partitions: options.partitions });
  }

  /** Feeds a topic with synthetic events at a steady rate while Rivulet runs. */
  generate<T>(topic: string, options: GeneratorOptions<T>): void {
    if (!(options.ratePerSecond > 0)) throw new PipelineDefinitionError(`generator for '${topic}': ratePerSecond must be > 0`);
    this.graph.topics.push({ name: topic, key: options.key as Extractor<never, string | number | null | undefined> | undefined });
    this.graph.generators.push({ topic, options: options as GeneratorOptions<unknown> });
  }
}

/** A stream of events of type `T`. Operators return new streams; nothing runs until Rivulet starts. */
export class Stream<T> {
  /** @internal */
  constructor(protected readonly app: PipelineBuilder, /** @internal */ readonly node: GraphNode) {}

  protected add<N extends GraphNode>(node: N): N {
    this.node.children.push(node);
    return node;
  }

  /**
   * Names the operator that made this stream with a stable id: its state in checkpoints and savepoints
   * is found by this id, so that a pipeline whose code changed elsewhere keeps it. Give every stateful
   * operator (windows, aggregates, `process`, joins) a uid before upgrading pipelines that run.
   * Call it right after the operator, before the stream is used further.
   *
   * @example
   * ```ts
   * payments.keyBy((p) => p.card).window(tumbling('1m')).aggregate({ n: count() }).uid('card-counts').to('card-stats');
   * ```
   */
  uid(id: string): this {
    if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(id)) throw new PipelineDefinitionError(`uid must be 1-100 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(id)}`);
    if (this.node.children.length > 0) throw new PipelineDefinitionError(`uid('${id}'): call it right after the operator, before the stream is used`);
    if (this.node.kind === 'source') throw new PipelineDefinitionError(`uid('${id}'): a source has no state to name; name the operators after it`);
    if (this.app.usesId(id)) throw new PipelineDefinitionError(`uid('${id}') is used twice in pipeline '${this.app.graph.name}'`);
    this.app.renameNode(this.node.id, id);
    this.node.id = id;
    return this;
  }

  /**
   * Keeps the events for which `predicate` is true. A type guard narrows the stream's type.
   *
   * @example Splitting a stream of several kinds of events.
   * ```ts
   * type Event = { type: 'bid'; price: number } | { type: 'person'; name: string };
   * const isBid = (e: Event): e is Extract<Event, { type: 'bid' }> => e.type === 'bid';
   * // app.stream<Event>('nexmark', { time: 'ts' }).filter(isBid) is a Stream<{ type: 'bid'; price: number }>
   * ```
   */
  filter<S extends T>(predicate: (event: T) => event is S): Stream<S>;
  filter(predicate: (event: T) => boolean): Stream<T>;
  filter(predicate: (event: T) => boolean): Stream<T> {
    return new Stream<T>(this.app, this.add({ kind: 'filter', id: this.app.id('filter'), fn: predicate as (v: unknown) => boolean, children: [] }));
  }

  /** Transforms each event. */
  map<U>(fn: (event: T) => U): Stream<U> {
    return new Stream<U>(this.app, this.add({ kind: 'map', id: this.app.id('map'), fn: fn as (v: unknown) => unknown, children: [] }));
  }

  /** Turns each event into zero or more events. */
  flatMap<U>(fn: (event: T) => Iterable<U>): Stream<U> {
    return new Stream<U>(this.app, this.add({ kind: 'flatMap', id: this.app.id('flatMap'), fn: fn as (v: unknown) => Iterable<unknown>, children: [] }));
  }

  /** Groups the stream by a key; keyed streams can be windowed and aggregated, and key their output records. */
  keyBy<K extends string | number>(key: (event: T) => K): KeyedStream<T, K> {
    return new KeyedStream<T, K>(this.app, this.add({ kind: 'keyBy', id: this.app.id('keyBy'), fn: key as (v: unknown) => unknown, children: [] }));
  }

  /**
   * Merges this stream with others of the same pipeline into one, in arrival order; its watermark is the
   * pipeline's. The result is not keyed: key it again with `keyBy` to aggregate.
   *
   * @example
   * ```ts
   * const all = app.stream<Reading>('sensors-a').union(app.stream<Reading>('sensors-b'));
   * ```
   */
  union<U>(...others: Stream<U>[]): Stream<T | U> {
    const node: GraphNode = { kind: 'union', id: this.app.id('union'), inputs: [this.node.id, ...others.map((o) => o.node.id)], children: [] };
    for (const o of others) if (o.app !== this.app) throw new PipelineDefinitionError('union: all streams must belong to the same pipeline');
    for (const s of [this.node, ...others.map((o) => o.node)]) s.children.push(node);
    return new Stream<T | U>(this.app, node);
  }

  /**
   * Writes the stream to a topic (created when missing). Returns the topic with this stream's type:
   * return it from `setup` for typed clients ({@link TopicsOf}).
   */
  to<Name extends string>(topic: Name, options: SinkOptions = {}): TopicOutput<Name, T> {
    const view = options.view ?? this instanceof KeyedStream;
    this.add({ kind: 'sink', id: this.app.id('sink'), topic, view, children: [] });
    this.app.output(topic, options.partitions);
    if (view && !this.app.graph.views.includes(topic)) this.app.graph.views.push(topic);
    return { topic };
  }
}

/** A stream grouped by a key of type `K`. */
export class KeyedStream<T, K> extends Stream<T> {
  override filter(predicate: (event: T) => boolean): KeyedStream<T, K> {
    return new KeyedStream<T, K>(this.app, this.add({ kind: 'filter', id: this.app.id('filter'), fn: predicate as (v: unknown) => boolean, children: [] }));
  }

  /** Transforms each event's value; the key stays. */
  override map<U>(fn: (event: T) => U): KeyedStream<U, K> {
    return new KeyedStream<U, K>(this.app, this.add({ kind: 'map', id: this.app.id('map'), fn: fn as (v: unknown) => unknown, children: [] }));
  }

  /**
   * Running aggregates per key over the whole stream: after each batch, an upsert `{ key, …aggregates }`
   * for every key that changed. The result is a changelog; `.to(topic)` makes it a view of current values.
   *
   * @example
   * ```ts
   * payments.keyBy((p) => p.merchant).aggregate({ n: count(), revenue: sum((p: Payment) => p.amount) }).to('merchant-totals');
   * ```
   */
  aggregate<A extends Record<string, Aggregate<T, any, any>>>(aggregates: A): KeyedStream<{ key: K } & AggregateResults<A>, K> { // eslint-disable-line @typescript-eslint/no-explicit-any
    checkAggregateNames(aggregates, ['key']);
    const node = this.add({ kind: 'aggregate', id: this.app.id('aggregate'), aggregates: aggregates as unknown as Record<string, Aggregate<unknown, unknown, unknown>>, children: [] });
    return new KeyedStream(this.app, node);
  }

  /**
   * A custom operator per key with state (`valueState`, `mapState`, `listState`, with TTL) and event-
   * and processing-time timers. See {@link ProcessFunction}.
   */
  process<Out, S extends Record<string, StateDescriptor> = Record<string, never>>(fn: ProcessFunction<T, K, Out, S>): KeyedStream<Out, K> {
    if (!fn || typeof fn.onEvent !== 'function') throw new PipelineDefinitionError('process: the function needs an onEvent(event, ctx) method');
    const node = this.add({ kind: 'process', id: this.app.id('process'), fn: fn as unknown as ProcessFunction<unknown, unknown, unknown, Record<string, StateDescriptor>>, children: [] });
    return new KeyedStream(this.app, node);
  }

  private join(other: KeyedStream<unknown, K>, node: GraphNode & { inputs: string[] }): KeyedStream<never, K> {
    if (other.app !== this.app) throw new PipelineDefinitionError('a join needs two streams of the same pipeline');
    this.node.children.push(node);
    other.node.children.push(node);
    return new KeyedStream(this.app, node);
  }

  /**
   * Stream–stream join within time bounds: each event pairs with the other stream's events of the same
   * key whose time is at most `before` earlier and `after` later than its own. The result's time is the
   * later of the two. Events arriving behind the watermark are late (counted; to `lateOutput` if set).
   *
   * @example Payments with a login from the same user in the 10 minutes before.
   * ```ts
   * payments.keyBy((p) => p.user).intervalJoin(logins.keyBy((l) => l.user), { before: '10m', after: '0s' },
   *   (payment, login) => ({ ...payment, ip: login.ip }));
   * ```
   */
  intervalJoin<U, R>(other: KeyedStream<U, K>, bounds: { before: Duration; after: Duration; lateOutput?: string }, join: (left: T, right: U) => R): KeyedStream<R, K> {
    const before = durationMs(bounds.before, 'intervalJoin before');
    const after = durationMs(bounds.after, 'intervalJoin after');
    if (before < 0 || after < 0) throw new PipelineDefinitionError('intervalJoin: before and after must not be negative');
    if (bounds.lateOutput !== undefined) this.app.output(bounds.lateOutput);
    return this.join(other as KeyedStream<unknown, K>, {
      kind: 'intervalJoin', id: this.app.id('intervalJoin'), inputs: [this.node.id, other.node.id], before, after,
      join: join as (l: unknown, r: unknown) => unknown, lateOutput: bounds.lateOutput, children: [],
    }) as unknown as KeyedStream<R, K>;
  }

  /**
   * Joins the events of both streams that share a key and a tumbling or hopping window; the pairs of a
   * window are emitted when it fires, with time `end − 1`.
   *
   * @example Nexmark q8: people who opened an auction in the 10 s window they registered in.
   * ```ts
   * persons.keyBy((p) => p.id).windowJoin(auctions.keyBy((a) => a.seller), tumbling('10s'),
   *   (p, _a, w) => ({ id: p.id, name: p.name, start: w.start }));
   * ```
   */
  windowJoin<U, R>(other: KeyedStream<U, K>, spec: TumblingWindow | HoppingWindow, join: (left: T, right: U, window: { start: number; end: number }) => R,
    options: { lateOutput?: string } = {}): KeyedStream<R, K> {
    if (spec.kind !== 'tumbling' && spec.kind !== 'hopping') throw new PipelineDefinitionError('windowJoin takes tumbling or hopping windows');
    if (options.lateOutput !== undefined) this.app.output(options.lateOutput);
    return this.join(other as KeyedStream<unknown, K>, {
      kind: 'windowJoin', id: this.app.id('windowJoin'), inputs: [this.node.id, other.node.id], spec,
      join: join as (l: unknown, r: unknown, w: { start: number; end: number }) => unknown, lateOutput: options.lateOutput, children: [],
    }) as unknown as KeyedStream<R, K>;
  }

  /**
   * Enriches each event with the row of a table of the same key. The table is a keyed stream read as a
   * changelog: its latest value per key, `null` deleting. `type: 'left'` keeps events without a row
   * (`row` is `undefined`); `version: 'event-time'` looks up the row as it was at the event's time.
   *
   * @example
   * ```ts
   * const customers = app.stream<Customer>('customers').keyBy((c) => c.id);
   * orders.keyBy((o) => o.customer).joinTable(customers, (o, c) => ({ ...o, tier: c?.tier ?? 'none' }), { type: 'left' });
   * ```
   */
  joinTable<U, R>(table: KeyedStream<U, K>, join: (event: T, row: U | undefined) => R,
    options: { type?: 'inner' | 'left'; version?: 'latest' | 'event-time'; lateOutput?: string } = {}): KeyedStream<R, K> {
    const mode = { type: options.type ?? 'inner', version: options.version ?? 'latest' } as const;
    if (mode.type !== 'inner' && mode.type !== 'left') throw new PipelineDefinitionError(`joinTable type must be 'inner' or 'left', got ${JSON.stringify(mode.type)}`);
    if (mode.version !== 'latest' && mode.version !== 'event-time') throw new PipelineDefinitionError(`joinTable version must be 'latest' or 'event-time', got ${JSON.stringify(mode.version)}`);
    if (options.lateOutput !== undefined) this.app.output(options.lateOutput);
    return this.join(table as KeyedStream<unknown, K>, {
      kind: 'tableJoin', id: this.app.id('tableJoin'), inputs: [this.node.id, table.node.id], mode,
      join: join as (e: unknown, row: unknown) => unknown, lateOutput: options.lateOutput, children: [],
    }) as unknown as KeyedStream<R, K>;
  }

  /**
   * Cuts each key's events into windows: `tumbling`, `hopping`, `sliding`, `session` (event time) or
   * `countWindow`. See {@link WindowOptions} for lateness, the late output and the emit mode.
   *
   * @example
   * ```ts
   * payments.keyBy((p) => p.card)
   *   .window(tumbling('1m'), { allowedLateness: '30s', lateOutput: 'late-payments' })
   *   .aggregate({ n: count() });
   * ```
   */
  window(spec: WindowSpec, options: WindowOptions = {}): WindowedStream<T, K> {
    return new WindowedStream<T, K>(this.app, this, spec, options);
  }
}

const RESERVED = new Set(['key', 'start', 'end', 'retracted']);

function checkAggregateNames(aggregates: object, reserved: string[]): void {
  if (aggregates === null || typeof aggregates !== 'object' || Object.keys(aggregates).length === 0) {
    throw new PipelineDefinitionError('aggregate: pass a record of aggregates, e.g. { n: count() }');
  }
  for (const name of Object.keys(aggregates)) {
    if (reserved.includes(name)) throw new PipelineDefinitionError(`aggregate name '${name}' is reserved for the result fields (${reserved.join(', ')})`);
  }
}

/** A keyed stream cut into windows, waiting for its aggregates. */
export class WindowedStream<T, K> {
  /** @internal */
  constructor(private readonly app: PipelineBuilder, private readonly parent: KeyedStream<T, K>, private readonly spec: WindowSpec,
    private readonly options: WindowOptions) {}

  /**
   * Aggregates each key's events per window. In the default `final` mode a window's result is emitted
   * when the watermark passes its end (again for each change within `allowedLateness`); its event time
   * is `end - 1`.
   */
  aggregate<A extends Record<string, Aggregate<T, any, any>>>(aggregates: A): KeyedStream<WindowResult<K, AggregateResults<A>>, K> { // eslint-disable-line @typescript-eslint/no-explicit-any
    checkAggregateNames(aggregates, [...RESERVED]);
    let options;
    try {
      options = resolveWindowOptions(this.spec, this.options);
    } catch (err) {
      throw new PipelineDefinitionError(`window of pipeline '${this.app.graph.name}': ${(err as Error).message}`, { cause: err });
    }
    if (options.lateOutput !== undefined) this.app.output(options.lateOutput);
    const node: GraphNode = {
      kind: 'window',
      id: this.app.id('window'),
      spec: this.spec,
      options,
      aggregates: aggregates as unknown as Record<string, Aggregate<unknown, unknown, unknown>>,
      children: [],
    };
    this.parent.node.children.push(node);
    return new KeyedStream(this.app, node);
  }
}
