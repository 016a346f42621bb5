import { DiscardPolicy, jetstream, JetStreamApiError, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection, type NodeConnectionOptions, type Subscription } from '@nats-io/transport-node';
import { InvalidArgumentError, OffsetConflictError, RivuletError, ServerUnreachableError, UnknownTopicError } from '../../core/errors.js';
import type { AppendRecord, LogRecord, RecordPosition } from '../../core/record.js';
import type { ResolvedTopicConfig, TopicInfo } from '../log.js';
import { decodeRecord } from '../record-codec.js';
import { RemoteLog, unsupported, type PartitionBounds, type RemoteLogSettings } from '../remote/remote-log.js';
import type { CachedTopic } from '../remote/topic-cache.js';
import type { Coordination, CoordinatedLog } from '../coordination.js';
import { ConsumerReader } from './consumer-reader.js';
import { Publisher } from './publisher.js';
import { JetStreamCoordination } from './jetstream-coordination.js';
import { checkNamespace, escapeName as encodeKey, JetStreamNames, unescapeName as decodeKey } from './names.js';

/** Options of {@link JetStreamLog.open}. */
export interface JetStreamLogOptions {
  /** NATS server URLs (`nats://127.0.0.1:4222`); several for a cluster. Ignored with `connection`. */
  servers?: string | string[];
  /** Further options of the NATS connection Rivulet opens (credentials, TLS, reconnect settings). */
  connectOptions?: Omit<NodeConnectionOptions, 'servers'>;
  /** A connection of the application's own; the log uses it and leaves it open at `close()`. */
  connection?: NatsConnection;
  /** Prefix of every stream, subject and bucket, so that deployments can share a NATS system. Default `rivulet`. */
  namespace?: string;
  /** Copies of each partition's stream and of the metadata buckets (1, 3 or 5 in a cluster). Default 1. */
  replicas?: number;
  /** Partitions of topics created without an explicit count. Default 4. */
  defaultPartitions?: number;
  /** How often time retention and tombstone removal run. Default 30,000 ms; 0 turns the background runs off. */
  maintenanceIntervalMs?: number;
  /** How often a waiting reader asks the server for new records when no notification came. Default 1000 ms. */
  pollIntervalMs?: number;
}

const DEFAULTS = { namespace: 'rivulet', replicas: 1, defaultPartitions: 4, maintenanceIntervalMs: 30_000, pollIntervalMs: 1000 };
type Settings = typeof DEFAULTS & RemoteLogSettings;

/** The JetStream API's "stream not found" (10059) and "consumer not found" (10014) error codes. */
const STREAM_NOT_FOUND = 10059;
/** The KV "wrong last sequence" error: the key exists already. */
const WRONG_LAST_SEQUENCE = 10071;

/**
 * The `Log` on NATS JetStream: what runs a pipeline across several machines, with the partitions in
 * a NATS cluster instead of one process's directory.
 *
 * Each partition is a file-backed stream of its own: its message sequence is the partition's offset
 * plus one, and in a cluster each partition has its own leader, so that writes spread over the
 * servers as Kafka's partition leaders do. Topic metadata and consumer-group offsets live in two
 * key-value buckets. Compacted topics publish each key on a subject of its own and keep one message
 * per subject. See docs/backends.md for what differs from the embedded log.
 *
 * @example
 * ```ts
 * const log = await JetStreamLog.open({ servers: 'nats://127.0.0.1:4222', replicas: 3 });
 * await log.createTopic('orders', { partitions: 6 });
 * await log.append('orders', [{ key: 'o-1', value: { total: 42 } }]);
 * ```
 */
export class JetStreamLog extends RemoteLog implements CoordinatedLog {
  private readonly subs: Subscription[] = [];
  private readonly watches: { stop(): void }[] = [];
  private readonly reader: ConsumerReader;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly topicsKv: KV,
    private readonly offsetsKv: KV,
    private readonly names: JetStreamNames,
    private readonly nats: Settings,
    private readonly coordinator: JetStreamCoordination,
    readerJsm: JetStreamManager,
  ) {
    super(nats);
    this.reader = new ConsumerReader(nc, readerJsm, { maxIdleConsumers: 256, pullTimeoutMs: 3000 });
    this.fastJsm = readerJsm;
    this.publisher = new Publisher(nc, 5000);
  }

  /** Appends' publishes and their acknowledgements. */
  private readonly publisher: Publisher;

  /** The JetStream API with a short timeout, for requests worth trying again at once (see `bounds`). */
  private readonly fastJsm: JetStreamManager;

  /** Connects (or uses `connection`), creates the metadata buckets when missing and loads the topics. */
  static async open(options: JetStreamLogOptions): Promise<JetStreamLog> {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const settings: Settings = { ...DEFAULTS, ...given, backend: 'NATS JetStream' } as Settings;
    checkNamespace(settings.namespace);
    if (![1, 3, 5].includes(settings.replicas)) throw new InvalidArgumentError(`replicas must be 1, 3 or 5, got ${settings.replicas}`, 'invalid_config');
    let nc = options.connection;
    if (!nc) {
      if (options.servers === undefined) throw new InvalidArgumentError('JetStreamLog needs servers or a connection', 'invalid_config');
      try {
        // Without async traces the client does not build an Error per request: ~1.5x the publishes/s.
        nc = await connect({ name: 'rivulet', noAsyncTraces: true, ...options.connectOptions, servers: options.servers });
      } catch (cause) {
        throw new ServerUnreachableError(`cannot connect to NATS at ${String(options.servers)}: ${(cause as Error).message}`, { cause });
      }
    }
    try {
      let jsm: JetStreamManager;
      try {
        jsm = await jetstreamManager(nc);
      } catch (cause) {
        throw new RivuletError('jetstream_unavailable', `NATS at ${nc.getServer()} has no JetStream (start nats-server with -js): ${(cause as Error).message}`, { cause });
      }
      const js = jetstream(nc);
      const names = new JetStreamNames(settings.namespace);
      const kvm = new Kvm(js);
      const bucket = { history: 1, replicas: settings.replicas, storage: StorageType.File };
      const [topicsKv, offsetsKv, coordinator] = await Promise.all([
        kvm.create(names.topicsBucket, bucket), kvm.create(names.offsetsBucket, bucket), JetStreamCoordination.open(nc, settings.namespace, settings.replicas),
      ]);
      // Reads create consumers with a short timeout and try again (see ConsumerReader.create).
      const readerJsm = await jetstreamManager(nc, { timeout: 1500 });
      const log = new JetStreamLog(nc, !options.connection, js, jsm, topicsKv, offsetsKv, names, settings, coordinator, readerJsm);
      await log.start();
      return log;
    } catch (err) {
      if (!options.connection) await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private async start(): Promise<void> {
    // Listen before loading, so that no change between the two is missed (seeing one twice is harmless).
    this.subs.push(this.nc.subscribe(this.names.notifyAll(), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const { topic, createdAt, ends } = JSON.parse(msg.string()) as { topic: string; createdAt: number; ends: [number, number][] };
          const t = this.topics.get(topic);
          if (!t || t.info.createdAt !== createdAt) return;
          for (const [p, end] of ends) this.topics.observe(t, p, undefined, end);
        } catch {
          // Not ours: notifications are only hints, the poll catches up.
        }
      },
    }));
    const watch = await this.topicsKv.watch({ include: 'updates' });
    this.watches.push(watch);
    void (async () => {
      for await (const e of watch) {
        if (this.closed) break;
        if (e.operation === 'PUT') await this.loadTopic(JSON.parse(new TextDecoder().decode(e.value)) as TopicInfo).catch(() => undefined);
        else this.forgetTopic(decodeKey(e.key));
      }
    })();
    const keys = await this.topicsKv.keys();
    const all: string[] = [];
    for await (const k of keys) all.push(k);
    await Promise.all(all.map(async (k) => {
      const info = await this.fetchInfo(decodeKey(k));
      if (info) await this.loadTopic(info);
    }));
    this.startMaintenance();
  }

  /** Checkpoints and leases of the workers sharing this log, on the same NATS system. */
  coordination(): Coordination {
    return this.coordinator;
  }

  protected async fetchInfo(name: string): Promise<TopicInfo | undefined> {
    const e = await this.topicsKv.get(encodeKey(name));
    if (!e || e.operation !== 'PUT') return undefined;
    return JSON.parse(new TextDecoder().decode(e.value)) as TopicInfo;
  }

  protected async bounds(topic: string, partition: number): Promise<PartitionBounds> {
    // While a server of a cluster is down, some requests go unanswered (nats-server 2.9): ask again.
    for (let attempt = 1; ; attempt++) {
      try {
        const { state } = await this.fastJsm.streams.info(this.names.stream(topic, partition));
        return { start: state.messages === 0 ? state.last_seq : state.first_seq - 1, end: state.last_seq };
      } catch (err) {
        if (isApiError(err, STREAM_NOT_FOUND)) throw new UnknownTopicError(topic);
        if (attempt >= 4 || !(err instanceof Error) || err.name !== 'TimeoutError') throw err;
      }
    }
  }

  private forgetTopic(name: string): void {
    const t = this.topics.get(name);
    if (!t) return;
    for (let p = 0; p < t.info.partitions; p++) this.reader.dropStream(this.names.stream(name, p));
    this.topics.remove(name);
  }

  protected checkConfig(name: string, config: ResolvedTopicConfig, old?: ResolvedTopicConfig): void {
    if (old && config.cleanupPolicy !== old.cleanupPolicy) {
      throw unsupported(this.settings.backend, name, 'changing cleanupPolicy after creation (compacted topics use a subject per key)');
    }
  }

  private streamConfig(info: TopicInfo, partition: number): Partial<StreamConfig> & { name: string } {
    const subject = this.names.subject(info.name, partition);
    const compact = info.config.cleanupPolicy === 'compact';
    return {
      name: this.names.stream(info.name, partition),
      subjects: compact ? [subject, `${subject}.>`] : [subject],
      storage: StorageType.File,
      num_replicas: this.nats.replicas,
      max_bytes: info.config.retentionBytes ?? -1,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: compact ? 1 : -1,
      description: `Rivulet topic '${info.name}' partition ${partition}`,
    };
  }

  protected async createStored(info: TopicInfo): Promise<TopicInfo> {
    // The streams first: a topic in the bucket always has its streams.
    for (let p = 0; p < info.partitions; p++) await this.jsm.streams.add(this.streamConfig(info, p));
    try {
      await this.topicsKv.create(encodeKey(info.name), JSON.stringify(info));
      return info;
    } catch (err) {
      if (!isApiError(err, WRONG_LAST_SEQUENCE)) throw err;
      return (await this.fetchInfo(info.name)) ?? Promise.reject(err);
    }
  }

  protected async updateStored(info: TopicInfo): Promise<void> {
    for (let p = 0; p < info.partitions; p++) await this.jsm.streams.update(this.names.stream(info.name, p), this.streamConfig(info, p));
    await this.topicsKv.put(encodeKey(info.name), JSON.stringify(info));
  }

  protected async deleteStored(info: TopicInfo): Promise<void> {
    await this.topicsKv.delete(encodeKey(info.name));
    this.forgetTopic(info.name);
    for (let p = 0; p < info.partitions; p++) {
      await this.jsm.streams.delete(this.names.stream(info.name, p)).catch((err: unknown) => {
        if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
      });
    }
    const keys = await this.offsetsKv.keys(`*.${encodeKey(info.name)}.*`);
    for await (const k of keys) await this.offsetsKv.purge(k);
  }

  /** Where a record is published: its partition's subject, or for compacted topics its key's. */
  private recordSubject(t: CachedTopic, partition: number, r: AppendRecord): string {
    return t.info.config.cleanupPolicy === 'compact' ? this.names.keySubject(t.info.name, partition, r.key!) : this.names.subject(t.info.name, partition);
  }

  protected async appendEncoded(t: CachedTopic, records: readonly AppendRecord[], partitionOf: Int32Array, payloads: Buffer[]): Promise<RecordPosition[]> {
    const topic = t.info.name;
    const settled = await Promise.allSettled(records.map((r, i) => {
      const p = partitionOf[i]!;
      const subject = this.recordSubject(t, p, r);
      return this.publisher.publish(subject, payloads[i]!);
    }));
    const positions: RecordPosition[] = new Array(records.length);
    const ends = new Map<number, number>();
    let failure: unknown;
    let stored = 0;
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i]!;
      if (s.status === 'rejected') {
        failure ??= s.reason;
        continue;
      }
      stored++;
      const p = partitionOf[i]!;
      positions[i] = { partition: p, offset: s.value - 1 };
      if (s.value > (ends.get(p) ?? 0)) ends.set(p, s.value);
    }
    for (const [p, end] of ends) this.topics.observe(t, p, undefined, end);
    if (ends.size > 0) this.nc.publish(this.names.notify(topic), JSON.stringify({ topic, createdAt: t.info.createdAt, ends: [...ends] }));
    if (failure !== undefined) {
      throw new RivuletError('append_failed', `appending to '${topic}' failed: ${(failure as Error).message}` +
        (stored > 0 ? ` (${stored} of the ${records.length} records were stored)` : ''), { cause: failure });
    }
    return positions;
  }

  /**
   * Each message expects the stream's last sequence to be the one before it. The first goes alone: when
   * it fails another writer moved the end and nothing is sent; when it succeeds, a competing writer's
   * first message fails and that writer stops, so the rest (sent together) cannot interleave with it.
   */
  protected async appendEncodedAt(t: CachedTopic, partition: number, offset: number, records: readonly AppendRecord[], payloads: Buffer[]): Promise<RecordPosition[]> {
    const topic = t.info.name;
    const stream = this.names.stream(topic, partition);
    const publish = (i: number) => this.js.publish(this.recordSubject(t, partition, records[i]!),
      payloads[i]!, { expect: { streamName: stream, lastSequence: offset + i } });
    try {
      await publish(0);
    } catch (cause) {
      if (isApiError(cause, WRONG_LAST_SEQUENCE)) throw new OffsetConflictError(topic, partition, offset, (await this.bounds(topic, partition)).end);
      throw new RivuletError('append_failed', `appending to '${topic}' partition ${partition} failed: ${(cause as Error).message}`, { cause });
    }
    const settled = await Promise.allSettled(payloads.slice(1).map((_, i) => publish(i + 1)));
    const firstFailed = settled.findIndex((s) => s.status === 'rejected');
    const end = offset + (firstFailed < 0 ? payloads.length : 1 + firstFailed);
    this.topics.observe(t, partition, undefined, end);
    this.nc.publish(this.names.notify(topic), JSON.stringify({ topic, createdAt: t.info.createdAt, ends: [[partition, end]] }));
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) {
      const cause = failure.reason as Error;
      throw new RivuletError('append_failed', `appending to '${topic}' partition ${partition} failed after ${end - offset} of ${payloads.length} records: ${cause.message}`, { cause });
    }
    return payloads.map((_, i) => ({ partition, offset: offset + i }));
  }

  protected async readStored(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]> {
    let messages;
    try {
      messages = await this.reader.read(this.names.stream(topic, partition), offset + 1, max);
    } catch (err) {
      if (isApiError(err, STREAM_NOT_FOUND)) throw new UnknownTopicError(topic);
      throw err;
    }
    return messages.map((m) => decodeRecord(m.data, partition, m.seq - 1, `topic '${topic}' partition ${partition}`));
  }

  protected async purgeBefore(topic: string, partition: number, offset: number): Promise<void> {
    await this.jsm.streams.purge(this.names.stream(topic, partition), { seq: offset + 1 });
  }

  protected async storeOffsets(group: string, info: TopicInfo, offsets: readonly (number | undefined)[]): Promise<void> {
    await Promise.all(offsets.map((o, p) => (o === undefined ? undefined : this.offsetsKv.put(this.names.offsetKey(group, info.name, p), String(o)))));
  }

  protected async loadOffsets(group: string, info: TopicInfo): Promise<(number | null)[]> {
    return Promise.all(Array.from({ length: info.partitions }, async (_, p) => {
      const e = await this.offsetsKv.get(this.names.offsetKey(group, info.name, p));
      return e && e.operation === 'PUT' ? Number(e.string()) : null;
    }));
  }

  /** Tombstones of compacted topics past `deleteRetentionMs` (by their timestamps) go, with what came before them on their key. */
  protected override async maintainPartition(info: TopicInfo, partition: number, now: number): Promise<void> {
    if (info.config.cleanupPolicy !== 'compact') return;
    const cutoff = now - info.config.deleteRetentionMs;
    const { start, end } = await this.bounds(info.name, partition);
    for (let offset = start; offset < end;) {
      const page = await this.readStored(info.name, partition, offset, 1000);
      if (page.length === 0) break;
      for (const r of page) {
        if (r.value !== null || r.timestamp >= cutoff) continue;
        // Only this tombstone and what came before it on its key's subject: a newer value stays.
        await this.jsm.streams.purge(this.names.stream(info.name, partition), { filter: this.names.keySubject(info.name, partition, r.key!), seq: r.offset + 2 });
      }
      offset = page.at(-1)!.offset + 1;
    }
  }

  protected async closeBackend(): Promise<void> {
    for (const w of this.watches) w.stop();
    for (const s of this.subs) s.unsubscribe();
    await this.reader.close();
    this.publisher.close();
    if (this.ownsConnection) await this.nc.close();
  }
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
