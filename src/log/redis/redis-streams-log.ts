import { createClient, RESP_TYPES, type RedisClientOptions } from 'redis';
import { InvalidArgumentError, OffsetConflictError, RivuletError, ServerUnreachableError } from '../../core/errors.js';
import type { AppendRecord, LogRecord, RecordPosition } from '../../core/record.js';
import type { ResolvedTopicConfig, TopicInfo } from '../log.js';
import type { Coordination, CoordinatedLog } from '../coordination.js';
import { decodeRecord } from '../record-codec.js';
import { RedisCoordination } from './redis-coordination.js';
import { RemoteLog, unsupported, type PartitionBounds, type RemoteLogSettings } from '../remote/remote-log.js';
import type { CachedTopic } from '../remote/topic-cache.js';

/** Options of {@link RedisStreamsLog.open}. */
export interface RedisStreamsLogOptions {
  /** `redis://[[user]:password@]host:port[/db]`. */
  url: string;
  /** Further options of the node-redis client (TLS, timeouts). */
  clientOptions?: Omit<RedisClientOptions, 'url'>;
  /** Prefix of every key and channel, so that deployments can share a Redis. Default `rivulet`. */
  namespace?: string;
  /** Partitions of topics created without an explicit count. Default 4. */
  defaultPartitions?: number;
  /** How often time retention runs. Default 30,000 ms; 0 turns the background runs off. */
  maintenanceIntervalMs?: number;
  /** How often a waiting reader asks the server for new records when no notification came. Default 1000 ms. */
  pollIntervalMs?: number;
}

const DEFAULTS = { namespace: 'rivulet', defaultPartitions: 4, maintenanceIntervalMs: 30_000, pollIntervalMs: 1000 };
type Settings = typeof DEFAULTS & RemoteLogSettings;
const NAMESPACE = /^[A-Za-z0-9-]{1,32}$/;
/** Replies as Buffers, so that records come back as the bytes stored. */
const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

type Client = ReturnType<typeof createClient>;
type Reply = Buffer | number | null | Reply[];
/** What `XINFO STREAM` and `XINFO GROUPS` answer (as maps: RESP3). */
interface StreamInfo { 'last-generated-id': unknown; 'first-entry': unknown[] | null }
interface GroupInfo { name: unknown; 'last-delivered-id': unknown }

/**
 * The `Log` on Redis Streams: a stream per partition, whose entry ids are `0-<offset + 1>` (Redis
 * numbers them itself with `XADD <key> 0-*`, so offsets are gapless and survive trimming). One
 * append is one `MULTI`/`EXEC`: all of its records are stored, or none. Consumer-group offsets are
 * Redis consumer groups (`XGROUP SETID`), so Redis's own tools show their lag. Topic metadata is one
 * hash. Redis cannot compact a stream by key or trim it by size: those settings are refused.
 *
 * @example
 * ```ts
 * const log = await RedisStreamsLog.open({ url: 'redis://127.0.0.1:6379' });
 * await log.createTopic('readings', { partitions: 4, retentionMs: 86_400_000 });
 * ```
 */
export class RedisStreamsLog extends RemoteLog implements CoordinatedLog {
  private readonly coordinator: RedisCoordination;

  private constructor(
    private readonly client: Client,
    private readonly subscriber: Client,
    private readonly redis: Settings,
  ) {
    super(redis);
    this.coordinator = new RedisCoordination(client, redis.namespace);
  }

  /** Checkpoints and leases of the workers sharing this log, on the same Redis. */
  coordination(): Coordination {
    return this.coordinator;
  }

  /** Connects, loads the topics and listens for other processes' changes. */
  static async open(options: RedisStreamsLogOptions): Promise<RedisStreamsLog> {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const settings = { ...DEFAULTS, ...given, backend: 'Redis Streams' } as Settings;
    if (!NAMESPACE.test(settings.namespace)) throw new InvalidArgumentError(`Redis namespace must be 1-32 letters, digits or '-', got '${settings.namespace}'`, 'invalid_config');
    // RESP3: XINFO answers as maps, which the parsing below expects.
    const client = createClient({ ...options.clientOptions, url: options.url, RESP: 3 });
    client.on('error', () => {}); // failures surface as rejected commands; the client reconnects
    try {
      await client.connect();
    } catch (cause) {
      throw new ServerUnreachableError(`cannot connect to Redis at ${options.url}: ${(cause as Error).message}`, { cause });
    }
    const subscriber = client.duplicate();
    subscriber.on('error', () => {});
    try {
      await subscriber.connect();
      const log = new RedisStreamsLog(client, subscriber, settings);
      await log.start();
      return log;
    } catch (err) {
      await Promise.allSettled([client.close(), subscriber.close()]);
      throw err;
    }
  }

  private key(topic: string, partition: number): string {
    return `${this.redis.namespace}:t:${topic}:${partition}`;
  }

  private get topicsKey(): string {
    return `${this.redis.namespace}:topics`;
  }

  private get channel(): string {
    return `${this.redis.namespace}:changes`;
  }

  private async start(): Promise<void> {
    // Listen before loading, so that no change between the two is missed.
    await this.subscriber.subscribe(this.channel, (message) => {
      let change: { topic: string; createdAt?: number; ends?: [number, number][]; changed?: boolean };
      try {
        change = JSON.parse(message) as typeof change;
      } catch {
        return; // notifications are only hints, the poll catches up
      }
      if (change.ends) {
        const t = this.topics.get(change.topic);
        if (t && t.info.createdAt === change.createdAt) for (const [p, end] of change.ends) this.topics.observe(t, p, undefined, end);
      } else if (change.changed) {
        void this.reloadTopic(change.topic).catch(() => undefined);
      }
    });
    const all = await this.client.hGetAll(this.topicsKey);
    await Promise.all(Object.values(all).map((json) => this.loadTopic(JSON.parse(json) as TopicInfo)));
    this.startMaintenance();
  }

  /** Another process created, changed or deleted a topic. */
  private async reloadTopic(name: string): Promise<void> {
    const info = await this.fetchInfo(name);
    if (info) await this.loadTopic(info);
    else this.topics.remove(name);
  }

  protected async fetchInfo(name: string): Promise<TopicInfo | undefined> {
    const json = await this.client.hGet(this.topicsKey, name);
    return json ? (JSON.parse(json) as TopicInfo) : undefined;
  }

  protected async bounds(topic: string, partition: number): Promise<PartitionBounds> {
    let info: StreamInfo;
    try {
      info = await this.client.sendCommand(['XINFO', 'STREAM', this.key(topic, partition)]) as unknown as StreamInfo;
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) return { start: 0, end: 0 };
      throw err;
    }
    // The last id Redis gave is kept when entries are trimmed: the partition's end.
    const end = sequence(String(info['last-generated-id']));
    const first = info['first-entry'];
    return { start: first ? sequence(String(first[0])) - 1 : end, end };
  }

  protected checkConfig(name: string, config: ResolvedTopicConfig): void {
    if (config.cleanupPolicy === 'compact') throw unsupported(this.settings.backend, name, "cleanupPolicy 'compact' (a Redis stream cannot keep only the latest entry per key)");
    if (config.retentionBytes !== null) throw unsupported(this.settings.backend, name, 'retentionBytes (Redis trims streams by count or id, not by size); use retentionMs');
  }

  private async announce(change: object): Promise<void> {
    await this.client.publish(this.channel, JSON.stringify(change));
  }

  protected async createStored(info: TopicInfo): Promise<TopicInfo> {
    // One script: the topic is recorded, and streams left by an earlier topic of this name (which would
    // continue its offsets) are removed, only by the process whose record wins.
    const keys = Array.from({ length: info.partitions }, (_, p) => this.key(info.name, p));
    const won = Number(await this.client.sendCommand(['EVAL', CREATE_TOPIC, String(1 + keys.length), this.topicsKey, ...keys, info.name, JSON.stringify(info)]));
    if (won !== 1) {
      const winner = await this.fetchInfo(info.name);
      if (!winner) throw new RivuletError('topic_conflict', `topic '${info.name}' was deleted while being created; try again`);
      return winner;
    }
    await this.announce({ topic: info.name, changed: true });
    return info;
  }

  protected async updateStored(info: TopicInfo): Promise<void> {
    await this.client.hSet(this.topicsKey, info.name, JSON.stringify(info));
    await this.announce({ topic: info.name, changed: true });
  }

  protected async deleteStored(info: TopicInfo): Promise<void> {
    await this.client.multi()
      .hDel(this.topicsKey, info.name)
      .del(Array.from({ length: info.partitions }, (_, p) => this.key(info.name, p)))
      .exec();
    await this.announce({ topic: info.name, changed: true });
  }

  protected async appendEncoded(t: CachedTopic, _records: readonly AppendRecord[], partitionOf: Int32Array, payloads: Buffer[]): Promise<RecordPosition[]> {
    const topic = t.info.name;
    const multi = this.client.multi();
    for (let i = 0; i < payloads.length; i++) multi.addCommand(['XADD', this.key(topic, partitionOf[i]!), '0-*', 'r', payloads[i]!]);
    let ids: unknown[];
    try {
      ids = await multi.exec();
    } catch (cause) {
      throw new RivuletError('append_failed', `appending to '${topic}' failed (nothing of it was stored): ${(cause as Error).message}`, { cause });
    }
    const positions: RecordPosition[] = new Array(payloads.length);
    const ends = new Map<number, number>();
    for (let i = 0; i < ids.length; i++) {
      const p = partitionOf[i]!;
      const seq = sequence(String(ids[i]));
      positions[i] = { partition: p, offset: seq - 1 };
      if (seq > (ends.get(p) ?? 0)) ends.set(p, seq);
    }
    for (const [p, end] of ends) this.topics.observe(t, p, undefined, end);
    await this.announce({ topic, createdAt: t.info.createdAt, ends: [...ends] });
    return positions;
  }

  /** One script: compares the stream's last id with the offset and appends all records, or none. */
  protected async appendEncodedAt(t: CachedTopic, partition: number, offset: number, _records: readonly AppendRecord[], payloads: Buffer[]): Promise<RecordPosition[]> {
    const topic = t.info.name;
    const reply = await this.client.sendCommand(['EVAL', APPEND_AT, '1', this.key(topic, partition), String(offset), ...payloads]) as unknown as [number, string];
    const [ok, last] = reply;
    if (ok !== 1) throw new OffsetConflictError(topic, partition, offset, sequence(String(last)));
    const end = offset + payloads.length;
    this.topics.observe(t, partition, undefined, end);
    await this.announce({ topic, createdAt: t.info.createdAt, ends: [[partition, end]] });
    return payloads.map((_, i) => ({ partition, offset: offset + i }));
  }

  protected async readStored(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]> {
    if (max <= 0) return [];
    const reply = await this.client.sendCommand(['XRANGE', this.key(topic, partition), `0-${offset + 1}`, '+', 'COUNT', String(max)], BUFFERS) as Reply[];
    const where = `topic '${topic}' partition ${partition}`;
    return reply.map((entry) => {
      const [id, fields] = entry as [Buffer, Buffer[]];
      const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'r');
      const seq = sequence(id.toString());
      return decodeRecord(at >= 0 ? fields[at + 1]! : Buffer.alloc(0), partition, seq - 1, where);
    });
  }

  protected async purgeBefore(topic: string, partition: number, offset: number): Promise<void> {
    await this.client.sendCommand(['XTRIM', this.key(topic, partition), 'MINID', `0-${offset + 1}`]);
  }

  /** A group's offset is where its Redis consumer group stands: the last delivered id is `0-<offset>`. */
  protected async storeOffsets(group: string, info: TopicInfo, offsets: readonly (number | undefined)[]): Promise<void> {
    await Promise.all(offsets.map(async (o, p) => {
      if (o === undefined) return;
      const key = this.key(info.name, p);
      try {
        await this.client.sendCommand(['XGROUP', 'CREATE', key, group, `0-${o}`, 'MKSTREAM', 'ENTRIESREAD', String(o)]);
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
        // ENTRIESREAD keeps the lag Redis reports for the group right.
        await this.client.sendCommand(['XGROUP', 'SETID', key, group, `0-${o}`, 'ENTRIESREAD', String(o)]);
      }
    }));
  }

  protected async loadOffsets(group: string, info: TopicInfo): Promise<(number | null)[]> {
    return Promise.all(Array.from({ length: info.partitions }, async (_, p) => {
      let groups: GroupInfo[];
      try {
        groups = await this.client.sendCommand(['XINFO', 'GROUPS', this.key(info.name, p)]) as unknown as GroupInfo[];
      } catch (err) {
        if (/no such key/i.test((err as Error).message)) return null;
        throw err;
      }
      const found = groups.find((g) => String(g.name) === group);
      if (found) return sequence(String(found['last-delivered-id']));
      return null;
    }));
  }

  protected async closeBackend(): Promise<void> {
    await Promise.allSettled([this.subscriber.close(), this.client.close()]);
  }
}

/** KEYS[1]: the topics hash; KEYS[2…]: the partitions' streams; ARGV[1]: the topic; ARGV[2]: its info. */
const CREATE_TOPIC = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
`;

/** KEYS[1]: the stream; ARGV[1]: the offset it must end at; ARGV[2…]: the records. Answers {1, last id} or {0, last id}. */
const APPEND_AT = `
local last = '0-0'
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if ok then
  for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
end
if last ~= '0-' .. ARGV[1] then return {0, last} end
for i = 2, #ARGV do last = redis.call('XADD', KEYS[1], '0-*', 'r', ARGV[i]) end
return {1, last}
`;

/** The sequence part of an entry id `0-<seq>`. */
function sequence(id: string): number {
  const seq = Number(id.slice(id.indexOf('-') + 1));
  if (!Number.isSafeInteger(seq)) throw new RivuletError('server_error', `unexpected Redis stream id '${id}'`);
  return seq;
}
