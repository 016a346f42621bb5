import { InvalidArgumentError, RivuletError, TopicExistsError, UnknownTopicError } from '../../core/errors.js';
import type { AppendRecord, LogRecord, RecordPosition } from '../../core/record.js';
import { validateTopicName } from '../embedded/embedded-log.js';
import type { Log, ResolvedTopicConfig, TopicConfig, TopicInfo } from '../log.js';
import { placeRecords } from '../placement.js';
import { encodeRecord } from '../record-codec.js';
import { resolveTopicConfig } from '../topic-config.js';
import { TopicCache, type CachedTopic } from './topic-cache.js';

/** Settings every server-side log shares, with their defaults applied. */
export interface RemoteLogSettings {
  /** Names the backend in errors ("the redis backend"). */
  backend: string;
  defaultPartitions: number;
  maintenanceIntervalMs: number;
  pollIntervalMs: number;
}

/** A partition's first stored offset and next offset. */
export interface PartitionBounds {
  start: number;
  end: number;
}

const GROUP = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/**
 * What every `Log` kept on a server (NATS JetStream, Redis Streams) does the same way: checking and
 * placing records, the cache of topics and offsets that the synchronous parts of `Log` answer from,
 * waiting for records, timestamp lookups, time retention and the maintenance schedule. A backend
 * supplies the storage primitives below.
 */
export abstract class RemoteLog implements Log {
  protected readonly topics = new TopicCache();
  protected closed = false;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenance: Promise<unknown> = Promise.resolve();

  protected constructor(protected readonly settings: RemoteLogSettings) {}

  /** The stored metadata of a topic, `undefined` when there is none. */
  protected abstract fetchInfo(name: string): Promise<TopicInfo | undefined>;
  /** A partition's bounds as the server has them now; {@link UnknownTopicError} when its storage is gone. */
  protected abstract bounds(topic: string, partition: number): Promise<PartitionBounds>;
  /** Refuses settings the backend cannot honour, with an error that says so. */
  protected abstract checkConfig(name: string, config: ResolvedTopicConfig, old?: ResolvedTopicConfig): void;
  /** Creates the topic's storage and stores `info`, unless another process stored one first: returns the info that holds. */
  protected abstract createStored(info: TopicInfo): Promise<TopicInfo>;
  protected abstract updateStored(info: TopicInfo): Promise<void>;
  protected abstract deleteStored(info: TopicInfo): Promise<void>;
  /** Stores encoded records at their partitions; the positions in the order given. */
  protected abstract appendEncoded(t: CachedTopic, records: readonly AppendRecord[], partitionOf: Int32Array, payloads: Buffer[]): Promise<RecordPosition[]>;
  /** Stores encoded records at the end of one partition if it ends at `offset`, else fails with an {@link OffsetConflictError} and stores none. */
  protected abstract appendEncodedAt(t: CachedTopic, partition: number, offset: number, records: readonly AppendRecord[], payloads: Buffer[]): Promise<RecordPosition[]>;
  /** Up to `max` records of a partition from `offset` on (the first stored at or after it). */
  protected abstract readStored(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]>;
  /** Removes a partition's records before `offset`. */
  protected abstract purgeBefore(topic: string, partition: number, offset: number): Promise<void>;
  protected abstract storeOffsets(group: string, info: TopicInfo, offsets: readonly (number | undefined)[]): Promise<void>;
  protected abstract loadOffsets(group: string, info: TopicInfo): Promise<(number | null)[]>;
  /** Releases the backend's connections. */
  protected abstract closeBackend(): Promise<void>;
  /** Backend-specific upkeep of one partition (run after time retention). */
  protected async maintainPartition(_info: TopicInfo, _partition: number, _now: number): Promise<void> {}

  /** Starts the background maintenance (once the backend is ready). */
  protected startMaintenance(): void {
    if (this.settings.maintenanceIntervalMs <= 0) return;
    this.maintenanceTimer = setInterval(() => void this.runMaintenance().catch(() => undefined), this.settings.maintenanceIntervalMs);
    this.maintenanceTimer.unref();
  }

  /** Reads the partitions' bounds and puts the topic in the cache. */
  protected async loadTopic(info: TopicInfo): Promise<CachedTopic> {
    const bounds = await Promise.all(Array.from({ length: info.partitions }, (_, p) => this.bounds(info.name, p)));
    return this.topics.put(info, bounds.map((b) => b.start), bounds.map((b) => b.end));
  }

  /** The topic from the cache, or from the server when another process created it since. */
  protected async topic(name: string): Promise<CachedTopic> {
    this.checkOpen();
    const cached = this.topics.get(name);
    if (cached) return cached;
    const info = await this.fetchInfo(name);
    if (!info) throw new UnknownTopicError(name);
    return this.loadTopic(info);
  }

  protected checkOpen(): void {
    if (this.closed) throw new RivuletError('log_closed', 'the log is closed');
  }

  async createTopic(name: string, config: TopicConfig = {}): Promise<TopicInfo> {
    validateTopicName(name);
    this.checkOpen();
    const { partitions: requested, ...rest } = config;
    const partitions = requested ?? this.settings.defaultPartitions;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
      throw new InvalidArgumentError(`topic '${name}': partitions must be an integer from 1 to 1024, got ${partitions}`, 'invalid_config');
    }
    let info = this.topics.get(name)?.info ?? (await this.fetchInfo(name));
    if (!info) {
      const wanted: TopicInfo = { name, partitions, createdAt: Date.now(), config: resolveTopicConfig(name, rest) };
      this.checkConfig(name, wanted.config);
      info = await this.createStored(wanted);
    }
    if (requested !== undefined && info.partitions !== requested) throw new TopicExistsError(name, ` with ${info.partitions} partitions, not ${requested}`);
    return (this.topics.get(name) ?? (await this.loadTopic(info))).info;
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
    const info = { ...t.info, config: resolveTopicConfig(name, patch, t.info.config) };
    this.checkConfig(name, info.config, t.info.config);
    await this.updateStored(info);
    return this.topics.put(info, t.starts, t.ends).info;
  }

  async deleteTopic(name: string): Promise<void> {
    const t = await this.topic(name);
    await this.deleteStored(t.info);
    this.topics.remove(name);
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<RecordPosition[]> {
    const t = await this.topic(topic);
    const partitionOf = placeRecords(t.info, records, () => t.roundRobin++);
    const payloads = encodeAll(records);
    if (records.length === 0) return [];
    return this.appendEncoded(t, records, partitionOf, payloads);
  }

  async appendAt(topic: string, partition: number, offset: number, records: readonly AppendRecord[]): Promise<RecordPosition[]> {
    const t = await this.topic(topic);
    checkPartition(t, partition);
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset must be a non-negative integer, got ${offset}`, 'invalid_offset');
    const placed = records.map((r) => ({ ...r, partition }));
    placeRecords(t.info, placed, () => 0);
    const payloads = encodeAll(placed);
    if (records.length === 0) return [];
    return this.appendEncodedAt(t, partition, offset, records, payloads);
  }

  async read(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]> {
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset must be a non-negative integer, got ${offset}`, 'invalid_offset');
    const t = await this.topic(topic);
    checkPartition(t, partition);
    const records = await this.readStored(topic, partition, offset, Math.max(0, max));
    if (records.length > 0) this.topics.observe(t, partition, undefined, records.at(-1)!.offset + 1);
    return records;
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
      const [r] = await this.readStored(topic, partition, mid, 1);
      if (!r || r.offset >= hi || r.timestamp >= timestamp) hi = mid;
      else lo = r.offset + 1;
    }
    const [first] = lo < end ? await this.readStored(topic, partition, lo, 1) : [];
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
    if (typeof group !== 'string' || !GROUP.test(group)) throw new InvalidArgumentError(`invalid consumer group name '${String(group)}'`, 'invalid_group_name');
    const t = await this.topic(topic);
    if (offsets.length > t.info.partitions) throw new InvalidArgumentError(`topic '${topic}' has ${t.info.partitions} partitions; ${offsets.length} offsets were given`);
    for (const o of offsets) {
      if (o !== undefined && (!Number.isInteger(o) || o < 0)) throw new InvalidArgumentError(`committed offsets must be non-negative integers, got ${o}`, 'invalid_offset');
    }
    await this.storeOffsets(group, t.info, offsets);
  }

  async committedOffsets(group: string, topic: string): Promise<(number | null)[]> {
    return this.loadOffsets(group, (await this.topic(topic)).info);
  }

  /** Appends are acknowledged once the server stored them; when it writes them to disk is the server's setting (docs/backends.md). */
  async sync(topic: string): Promise<void> {
    await this.topic(topic);
  }

  /**
   * Applies time retention by the records' own timestamps (servers count age from arrival) and the
   * backend's own upkeep to every topic now, then refreshes every partition's bounds. The
   * background timer does the same; runs never overlap.
   */
  runMaintenance(now = Date.now()): Promise<void> {
    const run = async () => {
      for (const info of this.topics.list()) {
        if (this.closed) return;
        try {
          for (let p = 0; p < info.partitions; p++) {
            if (info.config.retentionMs !== null) await this.expire(info, p, now - info.config.retentionMs);
            await this.maintainPartition(info, p, now);
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

  /** Removes the partition's oldest records while their timestamps are before `cutoff`. */
  private async expire(info: TopicInfo, partition: number, cutoff: number): Promise<void> {
    const { start, end } = await this.bounds(info.name, partition);
    let keepFrom: number | undefined;
    for (let offset = start; offset < end && keepFrom === undefined;) {
      const page = await this.readStored(info.name, partition, offset, 1000);
      if (page.length === 0) break;
      keepFrom = page.find((r) => r.timestamp >= cutoff)?.offset;
      offset = page.at(-1)!.offset + 1;
      if (keepFrom === undefined && offset >= end) keepFrom = end;
    }
    if (keepFrom !== undefined && keepFrom > start) await this.purgeBefore(info.name, partition, keepFrom);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.maintenanceTimer);
    await this.maintenance;
    for (const name of this.topics.names()) this.topics.remove(name);
    await this.closeBackend();
  }
}

/** Encodes every record before any is sent: a value that cannot be stored refuses the whole append. */
function encodeAll(records: readonly AppendRecord[]): Buffer[] {
  const now = Date.now();
  return records.map((r, i) => encodeRecord(r.key ?? null, r.timestamp ?? now, r.value, i));
}

function checkPartition(t: CachedTopic, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= t.info.partitions) {
    throw new InvalidArgumentError(`topic '${t.info.name}' has partitions 0-${t.info.partitions - 1}, not ${partition}`, 'unknown_partition');
  }
}

/** The error of a setting a backend cannot honour. */
export function unsupported(backend: string, name: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(`topic '${name}': ${what} is not available on the ${backend} backend`, 'unsupported');
}
