import fs from 'node:fs';
import path from 'node:path';
import { CorruptDataError, InvalidArgumentError, OffsetConflictError, RivuletError, storageError, UnknownTopicError } from '../../core/errors.js';
import type { AppendRecord, LogRecord, RecordPosition } from '../../core/record.js';
import type { Log, TopicConfig, TopicInfo } from '../log.js';
import { placeRecords } from '../placement.js';
import { resolveTopicConfig } from '../topic-config.js';
import { UnencodableValueError } from './batch-format.js';
import { compactPartition, type CompactionResult } from './compaction.js';
import { fsyncDirectory, writeFileDurably } from '../../core/durable-fs.js';
import { DirectoryLock } from './dir-lock.js';
import { GroupOffsetStore } from './group-offsets.js';
import { Partition } from './partition.js';

/** Options of {@link EmbeddedLog.open}. */
export interface EmbeddedLogOptions {
  /** Directory that holds the topics; created when missing. One process at a time may open it. */
  dir: string;
  /** Partitions of topics created without an explicit count. Default 4. */
  defaultPartitions?: number;
  /** How often retention and compaction run. Default 5000 ms; 0 turns the background runs off (call `runMaintenance`). */
  maintenanceIntervalMs?: number;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;
const GROUPS_DIR = '_groups';
/** A topic directory being deleted is first renamed to this prefix + its name (not a valid topic name). */
const DELETED_PREFIX = '.deleted-';

/** Checks a topic name: letters, digits, `.`, `_`, `-`; at most 200 characters; not starting with `.` or `-`. */
export function validateTopicName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name === GROUPS_DIR) {
    throw new InvalidArgumentError(
      `invalid topic name '${String(name)}': use 1-200 letters, digits, '.', '_' or '-', not starting with '.' or '-'`,
      'invalid_topic_name',
    );
  }
}

interface OpenTopic {
  info: TopicInfo;
  partitions: Partition[];
  roundRobin: number;
  waiters: Set<() => void>;
  syncTimer?: NodeJS.Timeout;
  /** When an append last let the event loop turn (see `append`). */
  lastTurnAt: number;
}

/** What one retention and compaction run did. */
export interface MaintenanceResult {
  segmentsDeleted: number;
  compaction: CompactionResult;
  /** Partitions whose retention or compaction failed (the others went on); also written to stderr. */
  failures: { topic: string; partition: number; error: unknown }[];
}

/** What the embedded log counts, for metrics. */
export interface EmbeddedLogStats {
  /** Reads refused because a stored batch failed its CRC check, since the log was opened. */
  corruptReads: number;
  /** Bytes of torn or corrupt tails cut off when partitions were opened. */
  recoveredTruncatedBytes: number;
  /** Batches found failing their CRC between intact ones when partitions were opened (kept, never served). */
  damagedBatches: number;
  /** fdatasync calls made so far; with `fsync: 'always'`, concurrent appends share them (group commit). */
  fsyncs: number;
  topics: {
    name: string;
    partitions: number;
    bytes: number;
    segments: number;
    /** Per partition: the offsets it holds, its bytes and segment files. */
    perPartition: { partition: number; startOffset: number; endOffset: number; bytes: number; segments: number }[];
  }[];
}

function wakeReaders(t: OpenTopic): void {
  if (t.waiters.size === 0) return;
  for (const wake of t.waiters) wake();
  t.waiters.clear();
}

/** An fsync for an `{ intervalMs }` policy: nobody waits for it, a failure is reported on stderr. */
function backgroundSync(t: OpenTopic, p: Partition): void {
  p.sync().catch((err: unknown) => console.error(`fsync of topic '${t.info.name}' partition ${p.index} failed:`, err));
}

/**
 * The default {@link Log}: topics as directories, partitions as directories of segment files, in this
 * process. Each batch carries a CRC32C; a torn tail left by a crash is cut off when a partition is
 * opened; acknowledged appends are durable under the topic's fsync policy.
 *
 * Layout: `<dir>/<topic>/topic.json`, `<dir>/<topic>/<partition>/<base offset>.{log,index,timeindex}`,
 * `<dir>/_groups/<group>.json` for committed consumer offsets.
 *
 * @example
 * ```ts
 * const log = await EmbeddedLog.open({ dir: './data/log' });
 * await log.createTopic('payments', { partitions: 4, fsync: 'always' });
 * await log.append('payments', [{ key: 'card-1', value: { amount: 12 } }]);
 * ```
 */
export class EmbeddedLog implements Log {
  private readonly topics = new Map<string, OpenTopic>();
  private readonly groups: GroupOffsetStore;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenance: Promise<unknown> = Promise.resolve();
  private closed = false;
  private recoveredTruncatedBytes = 0;
  private damagedBatches = 0;
  /** Counters of partitions of deleted topics, so that the log's totals never go down. */
  private retired = { corruptReads: 0, fsyncs: 0 };
  private lock: DirectoryLock | undefined;

  private constructor(private readonly dir: string, private readonly defaultPartitions: number) {
    this.groups = new GroupOffsetStore(path.join(dir, GROUPS_DIR));
  }

  /** Opens (or creates) a log in `options.dir`, recovering every topic found there. */
  static async open(options: EmbeddedLogOptions): Promise<EmbeddedLog> {
    const log = new EmbeddedLog(options.dir, options.defaultPartitions ?? 4);
    try {
      fs.mkdirSync(options.dir, { recursive: true });
    } catch (cause) {
      throw storageError('creating the log directory', options.dir, cause);
    }
    log.lock = DirectoryLock.acquire(options.dir);
    try {
      for (const entry of fs.readdirSync(options.dir, { withFileTypes: true })) {
        if (entry.isDirectory() && entry.name.startsWith(DELETED_PREFIX)) {
          // A topic whose deletion a crash interrupted: finish it.
          fs.rmSync(path.join(options.dir, entry.name), { recursive: true, force: true });
          continue;
        }
        if (!entry.isDirectory() || entry.name === GROUPS_DIR) continue;
        const metaPath = path.join(options.dir, entry.name, 'topic.json');
        if (!fs.existsSync(metaPath)) continue;
        let stored: Omit<TopicInfo, 'config'> & { config?: TopicConfig };
        try {
          stored = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as typeof stored;
        } catch (cause) {
          throw storageError('reading topic metadata', metaPath, cause);
        }
        log.openTopic({ ...stored, config: resolveTopicConfig(stored.name, stored.config ?? {}) });
      }
      log.groups.load();
    } catch (err) {
      // Give back what was opened so far: descriptors, timers, the lock.
      for (const t of log.topics.values()) {
        if (t.syncTimer) clearInterval(t.syncTimer);
        for (const p of t.partitions) {
          try {
            p.close();
          } catch {
            // The open error is the one to report.
          }
        }
      }
      log.topics.clear();
      log.lock.release();
      throw err;
    }
    const every = options.maintenanceIntervalMs ?? 5000;
    if (every > 0) {
      log.maintenanceTimer = setInterval(() => void log.runMaintenance().catch((err: unknown) => console.error('log maintenance failed:', err)), every);
      log.maintenanceTimer.unref();
    }
    return log;
  }

  private openTopic(info: TopicInfo): OpenTopic {
    const topicDir = path.join(this.dir, info.name);
    const t: OpenTopic = { info, partitions: [], roundRobin: 0, waiters: new Set(), lastTurnAt: Date.now() };
    for (let p = 0; p < info.partitions; p++) {
      const partition = new Partition(path.join(topicDir, String(p)), p, () => t.info.config, () => wakeReaders(t));
      this.recoveredTruncatedBytes += partition.recovery.truncatedBytes;
      this.damagedBatches += partition.recovery.damagedBatches;
      t.partitions.push(partition);
    }
    this.topics.set(info.name, t);
    this.scheduleSync(t);
    return t;
  }

  private scheduleSync(t: OpenTopic): void {
    if (t.syncTimer) clearInterval(t.syncTimer);
    t.syncTimer = undefined;
    const policy = t.info.config.fsync;
    if (typeof policy === 'object') {
      t.syncTimer = setInterval(() => {
        for (const p of t.partitions) if (p.hasUnsynced) backgroundSync(t, p);
      }, policy.intervalMs);
      t.syncTimer.unref();
    }
  }

  private get(name: string): OpenTopic {
    if (this.closed) throw new RivuletError('log_closed', 'the log is closed');
    const t = this.topics.get(name);
    if (!t) throw new UnknownTopicError(name);
    return t;
  }

  private partition(topic: string, partition: number): Partition {
    const t = this.get(topic);
    const p = t.partitions[partition];
    if (!p) throw new InvalidArgumentError(`topic '${topic}' has partitions 0-${t.info.partitions - 1}, not ${partition}`, 'unknown_partition');
    return p;
  }

  private persist(info: TopicInfo): void {
    writeFileDurably(path.join(this.dir, info.name, 'topic.json'), JSON.stringify(info));
  }

  async createTopic(name: string, config: TopicConfig = {}): Promise<TopicInfo> {
    validateTopicName(name);
    if (this.closed) throw new RivuletError('log_closed', 'the log is closed');
    const { partitions: requested, ...rest } = config;
    const partitions = requested ?? this.defaultPartitions;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
      throw new InvalidArgumentError(`topic '${name}': partitions must be an integer from 1 to 1024, got ${partitions}`, 'invalid_config');
    }
    const existing = this.topics.get(name);
    if (existing) {
      if (requested !== undefined && existing.info.partitions !== partitions) {
        throw new RivuletError('topic_exists', `topic '${name}' already exists with ${existing.info.partitions} partitions, not ${partitions}`);
      }
      return existing.info;
    }
    const info: TopicInfo = { name, partitions, createdAt: Date.now(), config: resolveTopicConfig(name, rest) };
    try {
      // A directory without topic.json is no topic (a creation a crash interrupted): start it afresh.
      fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
      fs.mkdirSync(path.join(this.dir, name), { recursive: true });
      writeFileDurably(path.join(this.dir, name, 'topic.json'), JSON.stringify(info));
      fsyncDirectory(this.dir);
    } catch (cause) {
      try {
        fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
      } catch {
        // Without topic.json the directory is ignored when the log opens.
      }
      throw storageError(`creating topic '${name}' in`, path.join(this.dir, name), cause);
    }
    return this.openTopic(info).info;
  }

  describeTopic(name: string): TopicInfo | undefined {
    return this.topics.get(name)?.info;
  }

  listTopics(): TopicInfo[] {
    return [...this.topics.values()].map((t) => t.info).sort((a, b) => a.name.localeCompare(b.name));
  }

  async updateTopicConfig(name: string, patch: Omit<TopicConfig, 'partitions'>): Promise<TopicInfo> {
    const t = this.get(name);
    if ('partitions' in patch) throw new InvalidArgumentError(`topic '${name}': the number of partitions cannot be changed`, 'invalid_config');
    const info = { ...t.info, config: resolveTopicConfig(name, patch, t.info.config) };
    this.persist(info);
    t.info = info;
    this.scheduleSync(t);
    return t.info;
  }

  async deleteTopic(name: string): Promise<void> {
    const t = this.get(name);
    if (t.syncTimer) clearInterval(t.syncTimer);
    this.topics.delete(name);
    for (const p of t.partitions) {
      p.close();
      this.retired.corruptReads += p.corruptReads;
      this.retired.fsyncs += p.fsyncs;
    }
    // Rename first (atomic, made durable), then remove: a crash midway can never leave part of the
    // old topic where a new topic of the same name would find it. Open finishes an interrupted removal.
    const doomed = path.join(this.dir, `${DELETED_PREFIX}${name}-${Date.now()}`);
    try {
      fs.renameSync(path.join(this.dir, name), doomed);
      fsyncDirectory(this.dir);
      fs.rmSync(doomed, { recursive: true, force: true });
    } catch (cause) {
      throw storageError(`deleting topic '${name}' in`, path.join(this.dir, name), cause);
    }
    this.groups.forgetTopic(name);
    wakeReaders(t);
  }

  async append(topic: string, records: readonly AppendRecord[]): Promise<RecordPosition[]> {
    const t = this.get(topic);
    const n = t.info.partitions;
    const partitionOf = placeRecords(t.info, records, () => t.roundRobin++);
    const counts = new Int32Array(n);
    for (let i = 0; i < records.length; i++) counts[partitionOf[i]!]!++;
    const now = Date.now();
    const bases = new Array<number>(n).fill(0);
    const touched: Partition[] = [];
    const single = counts.findIndex((c) => c === records.length);
    if (single >= 0) {
      // All in one partition (one-partition topics, keyed batches, single records): queued, so that the
      // appends of this tick share one batch and one write.
      if (records.length > 0) {
        const partition = t.partitions[single]!;
        bases[single] = await partition.enqueue(records, now);
        touched.push(partition);
      }
    } else {
      // Every partition's batch is framed before any is written: a value that cannot be stored refuses the whole append.
      const byPartition: AppendRecord[][] = Array.from({ length: n }, () => []);
      const indexes: number[][] = Array.from({ length: n }, () => []);
      for (let i = 0; i < records.length; i++) {
        byPartition[partitionOf[i]!]!.push(records[i]!);
        indexes[partitionOf[i]!]!.push(i);
      }
      const batches: (Buffer | undefined)[] = new Array(n);
      for (let p = 0; p < n; p++) {
        if (byPartition[p]!.length === 0) continue;
        t.partitions[p]!.flushQueue(); // appends queued before this one come first
        try {
          batches[p] = Buffer.from(t.partitions[p]!.encode(byPartition[p]!, now));
        } catch (err) {
          if (err instanceof UnencodableValueError) throw new UnencodableValueError(indexes[p]![err.index]!, err.reason, { cause: err.cause });
          throw err;
        }
      }
      for (let p = 0; p < n; p++) {
        const batch = batches[p];
        if (!batch) continue;
        try {
          bases[p] = t.partitions[p]!.write(batch);
        } catch (err) {
          if (touched.length > 0) {
            (err as Error).message += ` (the records of partition(s) ${touched.map((x) => x.index).join(', ')} of this append were stored before the failure)`;
          }
          throw err;
        }
        touched.push(t.partitions[p]!);
      }
    }
    // Readers see the records now; the appender hears back once they are durable under the policy.
    const policy = t.info.config.fsync;
    if (policy === 'always') {
      await Promise.all(touched.map((p) => p.sync()));
    } else if (typeof policy === 'object') {
      // The timer alone is not enough: a producer whose awaited appends never give the event loop a
      // turn would starve it. An append that finds an fsync due starts it, and lets the loop turn once.
      const at = Date.now();
      for (const p of touched) if (at - p.lastSyncStartedAt >= policy.intervalMs && p.syncIdle) backgroundSync(t, p);
      if (at - t.lastTurnAt >= policy.intervalMs) {
        t.lastTurnAt = at;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const positions: RecordPosition[] = new Array(records.length);
    const next = bases.slice();
    for (let i = 0; i < records.length; i++) {
      const p = partitionOf[i]!;
      positions[i] = { partition: p, offset: next[p]!++ };
    }
    return positions;
  }

  async appendAt(topic: string, partition: number, offset: number, records: readonly AppendRecord[]): Promise<RecordPosition[]> {
    const p = this.partition(topic, partition);
    // Everything queued before is written first; the check and the append's enqueue then happen in this
    // call, with no await between them.
    p.flushQueue();
    if (p.end !== offset) throw new OffsetConflictError(topic, partition, offset, p.end);
    return this.append(topic, records.map((r) => ({ ...r, partition })));
  }

  async read(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]> {
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset must be a non-negative integer, got ${offset}`, 'invalid_offset');
    return this.partition(topic, partition).read(offset, Math.max(0, max));
  }

  startOffsets(topic: string): number[] {
    return this.get(topic).partitions.map((p) => p.start);
  }

  endOffsets(topic: string): number[] {
    return this.get(topic).partitions.map((p) => p.end);
  }

  /** Nothing to do: this process is the log's only writer, so its offsets are always current. */
  async refresh(topic: string): Promise<void> {
    this.get(topic);
  }

  async offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number> {
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw new InvalidArgumentError(`timestamp must be epoch milliseconds, got ${timestamp}`);
    return this.partition(topic, partition).offsetForTimestamp(timestamp);
  }

  waitForRecords(topic: string, positions: readonly number[], signal?: AbortSignal): Promise<void> {
    const t = this.get(topic);
    const ready = () => t.partitions.some((p, i) => p.end > (positions[i] ?? 0));
    if (ready() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        t.waiters.delete(wake);
        resolve();
      };
      t.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async commitOffsets(group: string, topic: string, offsets: readonly (number | undefined)[]): Promise<void> {
    if (typeof group !== 'string' || !NAME.test(group)) throw new InvalidArgumentError(`invalid consumer group name '${String(group)}'`, 'invalid_group_name');
    const t = this.get(topic);
    if (offsets.length > t.info.partitions) throw new InvalidArgumentError(`topic '${topic}' has ${t.info.partitions} partitions; ${offsets.length} offsets were given`);
    this.groups.commit(group, topic, t.info.partitions, offsets);
  }

  async sync(topic: string): Promise<void> {
    const t = this.get(topic);
    for (const p of t.partitions) p.flushQueue();
    await Promise.all(t.partitions.map((p) => p.sync()));
  }

  async committedOffsets(group: string, topic: string): Promise<(number | null)[]> {
    return this.groups.committed(group, topic, this.get(topic).info.partitions);
  }

  /** Applies retention and compaction to every topic now (the background timer does the same). */
  runMaintenance(now = Date.now()): Promise<MaintenanceResult> {
    const run = async () => {
      const out: MaintenanceResult = { segmentsDeleted: 0, compaction: { segmentsRewritten: 0, recordsRemoved: 0 }, failures: [] };
      for (const t of [...this.topics.values()]) {
        for (const p of t.partitions) {
          if (this.closed || !this.topics.has(t.info.name)) break;
          // One partition's failure (a damaged batch, a full disk) never stops the others' retention.
          try {
            out.segmentsDeleted += p.enforceRetention(now);
            // A partition with damaged batches is left as it is: rewriting it could not keep what it lost.
            if (t.info.config.cleanupPolicy === 'compact' && p.needsCompaction && !p.damaged) {
              const r = await compactPartition(p, now, t.info.config.deleteRetentionMs);
              out.compaction.segmentsRewritten += r.segmentsRewritten;
              out.compaction.recordsRemoved += r.recordsRemoved;
            }
          } catch (error) {
            if (error instanceof CorruptDataError) p.damageFound = true;
            out.failures.push({ topic: t.info.name, partition: p.index, error });
            console.error(`log maintenance of topic '${t.info.name}' partition ${p.index} failed:`, error);
          }
        }
      }
      return out;
    };
    // One maintenance run at a time.
    const next = this.maintenance.then(run, run);
    this.maintenance = next.catch(() => undefined);
    return next;
  }

  /** Makes everything appended so far durable, whatever the topics' policies. */
  flush(): void {
    for (const t of this.topics.values()) for (const p of t.partitions) p.syncNow();
  }

  stats(): EmbeddedLogStats {
    let { corruptReads, fsyncs } = this.retired;
    const topics = [...this.topics.values()].map((t) => {
      let bytes = 0;
      let segments = 0;
      const perPartition = t.partitions.map((p) => {
        corruptReads += p.corruptReads;
        fsyncs += p.fsyncs;
        bytes += p.size;
        segments += p.segmentCount;
        return { partition: p.index, startOffset: p.start, endOffset: p.end, bytes: p.size, segments: p.segmentCount };
      });
      return { name: t.info.name, partitions: t.info.partitions, bytes, segments, perPartition };
    });
    return { corruptReads, recoveredTruncatedBytes: this.recoveredTruncatedBytes, damagedBatches: this.damagedBatches, fsyncs, topics };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    await this.maintenance;
    // Every partition is closed and the lock given back even when one fails; the first failure is reported.
    let failure: unknown;
    for (const t of this.topics.values()) {
      if (t.syncTimer) clearInterval(t.syncTimer);
      wakeReaders(t);
      for (const p of t.partitions) {
        try {
          p.close();
        } catch (err) {
          failure ??= err;
        }
      }
    }
    this.topics.clear();
    this.lock?.release();
    if (failure !== undefined) throw failure;
  }
}
