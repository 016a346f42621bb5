import type { AppendRecord, LogRecord, RecordPosition } from '../core/record.js';

/**
 * When an append is acknowledged relative to the disk:
 * - `'always'`: after fdatasync (appenders that arrive during one fsync share the next: group commit);
 * - `{ intervalMs }`: after the write; a background fdatasync runs every `intervalMs`;
 * - `'never'`: after the write; the operating system flushes when it likes (and at a clean close).
 */
export type FsyncPolicy = 'always' | 'never' | { intervalMs: number };

/** How a topic is laid out and kept. `partitions` is fixed at creation; the rest can be changed later. */
export interface TopicConfig {
  /** Number of partitions; records with one key always go to one partition. Default 4. */
  partitions?: number;
  /** Default `{ intervalMs: 1000 }`. */
  fsync?: FsyncPolicy;
  /** A partition's active segment is rolled when it reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** …or when its first record is older than this (wall clock). Default 7 days. */
  segmentMs?: number;
  /** Whole segments whose newest record timestamp is older than this are deleted. `null` (default) keeps them forever. */
  retentionMs?: number | null;
  /** Oldest whole segments are deleted while a partition is larger than this. `null` (default): no limit. */
  retentionBytes?: number | null;
  /** `'compact'` keeps the latest record per key in sealed segments (a `null` value is a tombstone). Default `'delete'`. */
  cleanupPolicy?: 'delete' | 'compact';
  /** How long compaction keeps tombstones, so that readers see the delete. Default 1 day. */
  deleteRetentionMs?: number;
}

/** A topic's configuration with every default filled in. */
export type ResolvedTopicConfig = Required<Omit<TopicConfig, 'partitions'>>;

/** What the log knows of a topic. */
export interface TopicInfo {
  name: string;
  partitions: number;
  createdAt: number;
  config: ResolvedTopicConfig;
}

/**
 * Where a reader starts in a partition: the oldest record, the end, an offset, the first record at or
 * after a time, or where a consumer group's committed offsets say (`fallback`, default `'earliest'`,
 * for partitions the group never committed, as Kafka's `auto.offset.reset`).
 */
export type StartPosition =
  | 'earliest'
  | 'latest'
  | { offset: number }
  | { timestamp: number }
  | { group: string; fallback?: 'earliest' | 'latest' };

/**
 * The durable, partitioned, replayable event log that everything in Rivulet flows through.
 *
 * Implementations (embedded files; NATS JetStream, Kafka and Redis Streams later) all pass one
 * conformance suite, so pipelines and the serving layer never depend on which one runs.
 *
 * Offsets are per partition and increase by one per appended record. Compaction and retention
 * remove records, so a reader must continue from the offset of the last record it got plus one,
 * never from its position plus the number of records.
 */
export interface Log {
  /** Creates a topic, or returns the existing one when its partition count matches. */
  createTopic(name: string, config?: TopicConfig): Promise<TopicInfo>;
  /** The topic's metadata, or `undefined` when there is no such topic. */
  describeTopic(name: string): TopicInfo | undefined;
  listTopics(): TopicInfo[];
  /** Changes the configuration of a topic (not its partition count). */
  updateTopicConfig(name: string, patch: Omit<TopicConfig, 'partitions'>): Promise<TopicInfo>;
  /** Deletes a topic and its data. Readers waiting on it are woken and then get `unknown_topic`. */
  deleteTopic(name: string): Promise<void>;
  /**
   * Appends a batch. When the promise resolves the records are acknowledged: readable, and durable
   * under the topic's fsync policy. The positions come back in the order of `records`.
   * A `Uint8Array` value is stored as raw bytes and read back as a `Uint8Array`; anything else as JSON.
   */
  append(topic: string, records: readonly AppendRecord[]): Promise<RecordPosition[]>;
  /**
   * Appends records to one partition at exactly `offset` (the partition's end offset the caller last
   * saw), or nothing: when the partition ends elsewhere it fails with an `OffsetConflictError` and
   * stores none of them. A pipeline writes its outputs this way, so that two instances of one task (a
   * restarted one and a stale one that lost its lease) can never both write a result. The records'
   * own `partition` fields are ignored.
   */
  appendAt(topic: string, partition: number, offset: number, records: readonly AppendRecord[]): Promise<RecordPosition[]>;
  /**
   * Reads up to `max` records of one partition: the first record at or after `offset`, and those after it.
   * An `offset` below the start of the partition (retention) reads from the start.
   */
  read(topic: string, partition: number, offset: number, max: number): Promise<LogRecord[]>;
  /** The offset of the oldest record still stored in each partition (or its end when it is empty). */
  startOffsets(topic: string): number[];
  /** The offset the next appended record of each partition will get (the "high watermark"). */
  endOffsets(topic: string): number[];
  /**
   * Brings what `startOffsets` and `endOffsets` answer for `topic` up to date with the storage. The
   * embedded log always is; a log on servers answers them from what this process last saw, and a
   * writer that takes over from another process refreshes before it trusts them.
   */
  refresh(topic: string): Promise<void>;
  /** The offset of the first record with timestamp ≥ `timestamp`, or the end offset when there is none. */
  offsetForTimestamp(topic: string, partition: number, timestamp: number): Promise<number>;
  /**
   * Resolves as soon as any partition of `topic` has records at or past the given positions
   * (`positions[p]` is the next offset the caller wants from partition `p`), or when `signal` aborts.
   */
  waitForRecords(topic: string, positions: readonly number[], signal?: AbortSignal): Promise<void>;
  /** Durably stores a consumer group's next offsets for a topic (`offsets[p]` for partition `p`; `undefined` leaves one as is). */
  commitOffsets(group: string, topic: string, offsets: readonly (number | undefined)[]): Promise<void>;
  /**
   * Resolves when every record of `topic` acknowledged before the call is on disk, whatever the topic's
   * fsync policy: what a pipeline's checkpoint waits for, so that a commit never outlives the records it
   * read or wrote (e.g. after a power loss).
   */
  sync(topic: string): Promise<void>;
  /** A consumer group's committed next offsets, `null` where it never committed. */
  committedOffsets(group: string, topic: string): Promise<(number | null)[]>;
  /** Flushes and releases everything. Calls after close fail. */
  close(): Promise<void>;
}

/**
 * The next offset of every partition for a {@link StartPosition}.
 *
 * @example
 * ```ts
 * // Go on where the 'billing' group left off; partitions it never committed start at the oldest record.
 * const next = await resolveStart(log, 'payments', { group: 'billing' });
 * const records = await log.read('payments', 0, next[0]!, 500);
 * await log.commitOffsets('billing', 'payments', [records.at(-1)!.offset + 1]);
 * ```
 */
export async function resolveStart(log: Log, topic: string, from: StartPosition): Promise<number[]> {
  if (from === 'earliest') return log.startOffsets(topic);
  if (from === 'latest') return log.endOffsets(topic);
  if ('offset' in from) return log.endOffsets(topic).map(() => from.offset);
  if ('group' in from) {
    const committed = await log.committedOffsets(from.group, topic);
    const fallback = from.fallback === 'latest' ? log.endOffsets(topic) : log.startOffsets(topic);
    return committed.map((c, p) => c ?? fallback[p]!);
  }
  const ends = log.endOffsets(topic);
  return Promise.all(ends.map((_, p) => log.offsetForTimestamp(topic, p, from.timestamp)));
}
