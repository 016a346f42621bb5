import { DiscardPolicy, jetstream, JetStreamApiError, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection, type NodeConnectionOptions, type Subscription } from '@nats-io/transport-node';
import { InvalidArgumentError, RivuletError, ServerUnreachableError, TopicExistsError, UnknownTopicError } from '../../core/errors.js';
import type { AppendRecord, LogRecord, RecordPosition } from '../../core/record.js';
import { validateTopicName } from '../embedded/embedded-log.js';
import type { Log, TopicConfig, TopicInfo } from '../log.js';
import { placeRecords } from '../placement.js';
import { decodeRecord, encodeRecord } from '../record-codec.js';
import { TopicCache, type CachedTopic } from '../remote/topic-cache.js';
import { resolveTopicConfig } from '../topic-config.js';
import { ConsumerReader } from './consumer-reader.js';
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
export class JetStreamLog implements Log {
  private readonly topics = new TopicCache();
  private readonly subs: Subscription[] = [];
  private readonly reader: ConsumerReader;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenance: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly watches: { stop(): void }[] = [];

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly topicsKv: KV,
    private readonly offsetsKv: KV,
    private readonly names: JetStreamNames,
    private readonly settings: typeof DEFAULTS,
  ) {
    this.reader = new ConsumerReader(nc, jsm, { maxIdleConsumers: 256, pullTimeoutMs: 10_000 });
  }

  /** Connects (or uses `connection`), creates the metadata buckets when missing and loads the topics. */
  static async open(options: JetStreamLogOptions): Promise<JetStreamLog> {
    const settings = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS;
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
      const [topicsKv, offsetsKv] = await Promise.all([kvm.create(names.topicsBucket, bucket), kvm.create(names.offsetsBucket, bucket)]);
      const log = new JetStreamLog(nc, !options.connection, js, jsm, topicsKv, offsetsKv, names, settings);
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
    if (this.settings.maintenanceIntervalMs > 0) {
      this.maintenanceTimer = setInterval(() => void this.runMaintenance().catch(() => undefined), this.settings.maintenanceIntervalMs);
      this.maintenanceTimer.unref();
    }
  }

  private async fetchInfo(name: string): Promise<TopicInfo | undefined> {
    const e = await this.topicsKv.get(encodeKey(name));
    if (!e || e.operation !== 'PUT') return undefined;
    return JSON.parse(new TextDecoder().decode(e.value)) as TopicInfo;
  }

  /** Reads the partitions' bounds and puts the topic in the cache. */
  private async loadTopic(info: TopicInfo): Promise<CachedTopic> {
    const bounds = await Promise.all(Array.from({ length: info.partitions }, (_, p) => this.bounds(info.name, p)));
    return this.topics.put(info, bounds.map((b) => b.start), bounds.map((b) => b.end));
  }

  /** A partition's first and next offset, from its stream's state. */
  private async bounds(topic: string, partition: number): Promise<{ start: number; end: number }> {
    try {
      const { state } = await this.jsm.streams.info(this.names.stream(topic, partition));
      return { start: state.messages === 0 ? state.last_seq : state.first_seq - 1, end: state.last_seq };
    } catch (err) {
      if (isApiError(err, STREAM_NOT_FOUND)) throw new UnknownTopicError(topic);
      throw err;
    }
  }

  private forgetTopic(name: string): void {
    const t = this.topics.get(name);
    if (!t) return;
    for (let p = 0; p < t.info.partitions; p++) this.reader.dropStream(this.names.stream(name, p));
    this.topics.remove(name);
  }

  /** The topic from the cache, or from the server when another process created it since. */
  private async topic(name: string): Promise<CachedTopic> {
    this.checkOpen();
    const cached = this.topics.get(name);
    if (cached) return cached;
    const info = await this.fetchInfo(name);
    if (!info) throw new UnknownTopicError(name);
    return this.loadTopic(info);
  }

  private checkOpen(): void {
    if (this.closed) throw new RivuletError('log_closed', 'the log is closed');
  }

  private streamConfig(topic: string, partition: number, info: TopicInfo): Partial<StreamConfig> & { name: string } {
    const subject = this.names.subject(topic, partition);
    const compact = info.config.cleanupPolicy === 'compact';
    return {
      name: this.names.stream(topic, partition),
      subjects: compact ? [subject, `${subject}.>`] : [subject],
      storage: StorageType.File,
      num_replicas: this.settings.replicas,
      max_bytes: info.config.retentionBytes ?? -1,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: compact ? 1 : -1,
      description: `Rivulet topic '${topic}' partition ${partition}`,
    };
  }

  async createTopic(name: string, config: TopicConfig = {}): Promise<TopicInfo> {
    validateTopicName(name);
    this.checkOpen();
    const { partitions: requested, ...rest } = config;
    const partitions = requested ?? this.settings.defaultPartitions;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
      throw new InvalidArgumentError(`topic '${name}': partitions must be an integer from 1 to 1024, got ${partitions}`, 'invalid_config');
    }
    const existing = this.topics.get(name)?.info ?? (await this.fetchInfo(name));
    if (existing) return this.sameTopic(existing, requested);
    const info: TopicInfo = { name, partitions, createdAt: Date.now(), config: resolveTopicConfig(name, rest) };
    // The streams first: a topic in the bucket always has its streams.
    for (let p = 0; p < partitions; p++) await this.jsm.streams.add(this.streamConfig(name, p, info));
    try {
      await this.topicsKv.create(encodeKey(name), JSON.stringify(info));
    } catch (err) {
      if (!isApiError(err, WRONG_LAST_SEQUENCE)) throw err;
      const winner = await this.fetchInfo(name);
      if (!winner) throw err;
      return this.sameTopic(winner, requested);
    }
    return (await this.loadTopic(info)).info;
  }

  private async sameTopic(info: TopicInfo, requested: number | undefined): Promise<TopicInfo> {
    if (requested !== undefined && info.partitions !== requested) {
      throw new TopicExistsError(info.name, ` with ${info.partitions} partitions, not ${requested}`);
    }
    return (this.topics.get(info.name) ?? (await this.loadTopic(info))).info;
  }

  describeTopic(name: string): TopicInfo | undefined {
    return this.topics.get(name)?.info;
  }

  listTopics(): TopicInfo[] {
    return this.topics.list();
  }

  async updateTopicConfig(name: string, patch: Omit<TopicConfig, 'partitions'>): Promise<TopicInfo> {
    const t = await this.topic(name);
    if ('partitions' in patch) throw new InvalidArgumentError(`topic '${name}': the number of partitions cannot be changed`, 'invalid_config');
    const config = resolveTopicConfig(name, patch, t.info.config);
    if (config.cleanupPolicy !== t.info.config.cleanupPolicy) {
      throw new InvalidArgumentError(`topic '${name}': on the NATS backend cleanupPolicy is fixed when the topic is created (compacted topics use a subject per key)`, 'unsupported');
    }
    const info = { ...t.info, config };
    for (let p = 0; p < info.partitions; p++) await this.jsm.streams.update(this.names.stream(name, p), this.streamConfig(name, p, info));
    await this.topicsKv.put(encodeKey(name), JSON.stringify(info));
    return this.topics.put(info, t.starts, t.ends).info;
  }

  async deleteTopic(name: string): Promise<void> {
    const t = await this.topic(name);
    await this.topicsKv.delete(encodeKey(name));
    this.forgetTopic(name);
    for (let p = 0; p < t.info.partitions; p++) {
      await this.jsm.streams.delete(this.names.stream(name, p)).catch((err: unknown) => {
        if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
      });
    }
    const keys = await this.offsetsKv.keys(`*.${encodeKey(name)}.*`);
    for await (const k of keys) await this.offsetsKv.purge(k);
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<RecordPosition[]> {
    const t = await this.topic(topic);
    const partitionOf = placeRecords(t.info, records, () => t.roundRobin++);
    const compacted = t.info.config.cleanupPolicy === 'compact';
    // Every record is encoded before any is sent: a value that cannot be stored refuses the whole append.
    const now = Date.now();
    const payloads = records.map((r, i) => encodeRecord(r.key ?? null, r.timestamp ?? now, r.value, i));
    const acks = records.map((r, i) => {
      const p = partitionOf[i]!;
      const subject = compacted ? this.names.keySubject(topic, p, r.key!) : this.names.subject(topic, p);
      return this.js.publish(subject, payloads[i]!, { expect: { streamName: this.names.stream(topic, p) } });
    });
    const settled = await Promise.allSettled(acks);
    const positions: RecordPosition[] = new Array(records.length);
    const ends = new Map<number, number>();
    let failure: unknown;
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i]!;
      if (s.status === 'rejected') {
        failure ??= s.reason;
        continue;
      }
      const p = partitionOf[i]!;
      positions[i] = { partition: p, offset: s.value.seq - 1 };
      if (s.value.seq > (ends.get(p) ?? 0)) ends.set(p, s.value.seq);
    }
    for (const [p, end] of ends) this.topics.observe(t, p, undefined, end);
    if (ends.size > 0) {
      this.nc.publish(this.names.notify(topic), JSON.stringify({ topic, createdAt: t.info.createdAt, ends: [...ends] }));
    }
    if (failure !== undefined) {
      const stored = settled.filter((s) => s.status === 'fulfilled').length;
      throw new RivuletError('append_failed', `appending to '${topic}' failed: ${(failure as Error).message}` +
        (stored > 0 ? ` (${stored} of the ${records.length} records were stored)` : ''), { cause: failure });
    }
    return positions;
  }

  async read(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]> {
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset must be a non-negative integer, got ${offset}`, 'invalid_offset');
    const t = await this.topic(topic);
    checkPartition(t, partition);
    const stream = this.names.stream(topic, partition);
    let messages;
    try {
      messages = await this.reader.read(stream, offset + 1, Math.max(0, max));
    } catch (err) {
      if (isApiError(err, STREAM_NOT_FOUND)) throw new UnknownTopicError(topic);
      throw err;
    }
    if (messages.length === 0) return [];
    const out = messages.map((m) => decodeRecord(m.data, partition, m.seq - 1, `topic '${topic}' partition ${partition}`));
    this.topics.observe(t, partition, undefined, messages.at(-1)!.seq);
    return out;
  }

  startOffsets(topic: string): number[] {
    return this.topics.require(topic).starts.slice();
  }

  endOffsets(topic: string): number[] {
    return this.topics.require(topic).ends.slice();
  }

  /**
   * Binary search over the partition's offsets, assuming timestamps grow along it (as the embedded
   * log's time index does): the first record with a timestamp at or after `timestamp`.
   */
  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw new InvalidArgumentError(`timestamp must be epoch milliseconds, got ${timestamp}`);
    const t = await this.topic(topic);
    checkPartition(t, partition);
    const { start, end } = await this.bounds(topic, partition);
    this.topics.observe(t, partition, start, end);
    let lo = start;
    let hi = end;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const [r] = await this.read(topic, partition, mid, 1);
      if (!r || r.offset >= hi) {
        hi = mid;
      } else if (r.timestamp >= timestamp) {
        hi = mid;
      } else {
        lo = r.offset + 1;
      }
    }
    const [first] = lo < end ? await this.read(topic, partition, lo, 1) : [];
    return first ? first.offset : end;
  }

  waitForRecords(topic: string, positions: readonly number[], signal?: AbortSignal): Promise<void> {
    this.checkOpen();
    return this.topics.wait(topic, positions, this.settings.pollIntervalMs, () => this.refresh(topic), signal);
  }

  /** Brings a topic's offsets up to date from the server. */
  async refresh(topic: string): Promise<void> {
    const t = this.topics.get(topic);
    if (!t) return;
    const bounds = await Promise.all(Array.from({ length: t.info.partitions }, (_, p) => this.bounds(topic, p)));
    bounds.forEach((b, p) => this.topics.observe(t, p, b.start, b.end));
  }

  async commitOffsets(group: string, topic: string, offsets: readonly (number | undefined)[]): Promise<void> {
    checkGroup(group);
    const t = await this.topic(topic);
    if (offsets.length > t.info.partitions) throw new InvalidArgumentError(`topic '${topic}' has ${t.info.partitions} partitions; ${offsets.length} offsets were given`);
    for (const o of offsets) {
      if (o !== undefined && (!Number.isInteger(o) || o < 0)) throw new InvalidArgumentError(`committed offsets must be non-negative integers, got ${o}`, 'invalid_offset');
    }
    await Promise.all(offsets.map((o, p) => (o === undefined ? undefined : this.offsetsKv.put(this.names.offsetKey(group, topic, p), String(o)))));
  }

  async committedOffsets(group: string, topic: string): Promise<(number | null)[]> {
    const t = await this.topic(topic);
    return Promise.all(Array.from({ length: t.info.partitions }, async (_, p) => {
      const e = await this.offsetsKv.get(this.names.offsetKey(group, topic, p));
      return e && e.operation === 'PUT' ? Number(e.string()) : null;
    }));
  }

  /**
   * Nothing to wait for: JetStream acknowledges a message once it is stored (by a quorum of the
   * stream's replicas in a cluster). When the servers write it to disk is their `sync_interval`.
   */
  async sync(topic: string): Promise<void> {
    await this.topic(topic);
  }

  /**
   * Removes what the servers do not remove by themselves: records past `retentionMs` by their own
   * timestamps (the servers' `max_age` counts from arrival), and tombstones of compacted topics past
   * `deleteRetentionMs`. Size retention is the streams' `max_bytes`. Refreshes every partition's bounds.
   */
  runMaintenance(now = Date.now()): Promise<void> {
    const run = async () => {
      for (const info of this.topics.list()) {
        if (this.closed) return;
        try {
          for (let p = 0; p < info.partitions; p++) {
            if (info.config.retentionMs !== null) await this.expire(info, p, now - info.config.retentionMs);
            if (info.config.cleanupPolicy === 'compact') await this.dropTombstones(info, p, now - info.config.deleteRetentionMs);
          }
          await this.refresh(info.name);
        } catch (err) {
          if (!(err instanceof UnknownTopicError)) console.error(`log maintenance of topic '${info.name}' failed:`, err);
        }
      }
    };
    const next = this.maintenance.then(run, run);
    this.maintenance = next.catch(() => undefined);
    return next;
  }

  /** Purges the partition's oldest records while their timestamps are before `cutoff`. */
  private async expire(info: TopicInfo, partition: number, cutoff: number): Promise<void> {
    const { start, end } = await this.bounds(info.name, partition);
    let keepFrom: number | undefined;
    for (let offset = start; offset < end && keepFrom === undefined;) {
      const page = await this.read(info.name, partition, offset, 1000);
      if (page.length === 0) break;
      keepFrom = page.find((r) => r.timestamp >= cutoff)?.offset;
      offset = page.at(-1)!.offset + 1;
      if (keepFrom === undefined && offset >= end) keepFrom = end;
    }
    if (keepFrom !== undefined && keepFrom > start) {
      await this.jsm.streams.purge(this.names.stream(info.name, partition), { seq: keepFrom + 1 });
    }
  }

  private async dropTombstones(info: TopicInfo, partition: number, cutoff: number): Promise<void> {
    const { start, end } = await this.bounds(info.name, partition);
    for (let offset = start; offset < end;) {
      const page = await this.read(info.name, partition, offset, 1000);
      if (page.length === 0) break;
      for (const r of page) {
        if (r.value !== null || r.timestamp >= cutoff) continue;
        // Only this tombstone and what came before it on its key's subject: a newer value stays.
        await this.jsm.streams.purge(this.names.stream(info.name, partition), { filter: this.names.keySubject(info.name, partition, r.key!), seq: r.offset + 2 });
      }
      offset = page.at(-1)!.offset + 1;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.maintenanceTimer);
    await this.maintenance;
    for (const w of this.watches) w.stop();
    for (const s of this.subs) s.unsubscribe();
    await this.reader.close();
    for (const name of this.topics.names()) this.topics.remove(name);
    if (this.ownsConnection) await this.nc.close();
  }
}

function checkPartition(t: CachedTopic, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= t.info.partitions) {
    throw new InvalidArgumentError(`topic '${t.info.name}' has partitions 0-${t.info.partitions - 1}, not ${partition}`, 'unknown_partition');
  }
}

const GROUP = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

function checkGroup(group: string): void {
  if (typeof group !== 'string' || !GROUP.test(group)) throw new InvalidArgumentError(`invalid consumer group name '${String(group)}'`, 'invalid_group_name');
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
