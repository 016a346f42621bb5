import fs from 'node:fs';
import path from 'node:path';
import { StorageError, storageError } from '../../core/errors.js';
import type { LogRecord } from '../../core/record.js';
import type { ResolvedTopicConfig } from '../log.js';
import { encodeBatch, type EncodableRecord } from './batch-format.js';
import { fsyncDirectory } from '../../core/durable-fs.js';
import { GroupSync } from './group-sync.js';
import { Segment } from './segment.js';

/** Most bytes one read call scans. */
const READ_BYTES = 4 << 20;

/** What opening a partition found. */
export interface PartitionRecovery {
  segments: number;
  /** Bytes of a torn or corrupt tail cut off the active segment. */
  truncatedBytes: number;
  /** Batches found failing their CRC between intact ones (kept in place, never served). */
  damagedBatches: number;
  /** Bytes of damaged tails of sealed segments (kept, never served). */
  damagedBytes: number;
}

interface QueuedAppend {
  records: readonly EncodableRecord[];
  now: number;
  resolve: (firstOffset: number) => void;
  reject: (err: unknown) => void;
}

/**
 * One partition of a topic in the embedded log: a directory of segments, the last one active.
 * Appends go to the active segment, which is rolled by size and age; retention deletes and
 * compaction rewrites whole sealed segments only, so appends and readers are never blocked by them.
 */
export class Partition {
  private segments: Segment[] = [];
  private readonly groupSync: GroupSync;
  /** Segments written since their last fsync. */
  private readonly unsynced = new Set<Segment>();
  readonly recovery: PartitionRecovery;
  /** Reads that met a batch failing its CRC check. */
  corruptReads = 0;
  /** fdatasync calls made for appends (group commit keeps this well below the number of appends). */
  fsyncs = 0;
  /** Set when a segment was sealed since the last compaction. */
  needsCompaction = true;
  /** Batches written so far: group commit numbers writes with it. */
  private writes = 0;
  /** When the last fsync started (ms since the epoch), for `{ intervalMs }` policies. */
  lastSyncStartedAt = Date.now();
  /** Appends waiting for this tick's shared batch (see {@link enqueue}). */
  private queue: QueuedAppend[] = [];
  private flushScheduled = false;

  /**
   * @param onWrite called after every batch written, so that the log can wake readers waiting for records.
   */
  constructor(readonly dir: string, readonly index: number, private config: () => ResolvedTopicConfig, private readonly onWrite: () => void = () => {}) {
    let bases: number[];
    try {
      fs.mkdirSync(dir, { recursive: true });
      bases = fs.readdirSync(dir)
        .filter((f) => /^\d{20}\.log$/.test(f))
        .map((f) => Number(f.slice(0, 20)))
        .sort((a, b) => a - b);
    } catch (cause) {
      throw storageError('opening partition directory', dir, cause);
    }
    let truncatedBytes = 0;
    try {
      for (let i = 0; i < bases.length; i++) {
        const { segment, truncatedBytes: cut } = Segment.open(dir, bases[i]!, i === bases.length - 1);
        truncatedBytes += cut;
        this.segments.push(segment);
      }
      // A sealed segment ends where the next begins (records removed by compaction leave gaps).
      for (let i = 0; i + 1 < this.segments.length; i++) this.segments[i]!.nextOffset = this.segments[i + 1]!.baseOffset;
      this.cleanTemporaryFiles();
      if (this.segments.length === 0) {
        this.segments.push(Segment.create(dir, 0));
        // A new partition: its directory and first segment must survive a power loss like its data.
        fsyncDirectory(dir);
        fsyncDirectory(path.dirname(dir));
      }
    } catch (err) {
      for (const s of this.segments) s.close();
      if (err instanceof StorageError) throw err;
      throw storageError('recovering partition', dir, err);
    }
    let damagedBatches = 0;
    let damagedBytes = 0;
    for (const s of this.segments) {
      damagedBatches += s.damagedBatches.length;
      damagedBytes += s.damagedBytes;
    }
    this.recovery = { segments: this.segments.length, truncatedBytes, damagedBatches, damagedBytes };
    this.groupSync = new GroupSync(() => this.syncUnsynced(), () => this.writes);
  }

  private cleanTemporaryFiles(): void {
    for (const f of fs.readdirSync(this.dir)) if (f.endsWith('.cleaned') || f.endsWith('.tmp')) fs.rmSync(path.join(this.dir, f), { force: true });
  }

  private get active(): Segment {
    return this.segments.at(-1)!;
  }

  /** Offset of the oldest stored record (the end when empty). */
  get start(): number {
    return this.segments[0]!.baseOffset;
  }

  /** The offset the next record will get. */
  get end(): number {
    return this.active.nextOffset;
  }

  /** Bytes stored. */
  get size(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Frames records as the next batch of this partition (records without a timestamp get `now`). The
   * batch lives in a buffer the next encoding reuses: {@link write} it (or copy it) before encoding again.
   */
  encode(records: readonly EncodableRecord[], now: number): Buffer {
    return encodeBatch(records, this.end, now);
  }

  /** Writes a batch made by {@link encode}, rolling the active segment first when it is full or old; returns its first offset. */
  write(batch: Buffer): number {
    if (this.syncFailure) {
      throw new StorageError(`partition ${this.dir} takes no appends since an fsync failed (${this.syncFailure.message}); reopen the log to recover`, { cause: this.syncFailure });
    }
    const base = this.end;
    const cfg = this.config();
    const active = this.active;
    if (active.size > 0 && (active.size + batch.length > cfg.segmentBytes || Date.now() - active.createdAt > cfg.segmentMs)) this.roll();
    this.active.append(batch);
    this.unsynced.add(this.active);
    this.writes++;
    this.onWrite();
    return base;
  }

  /**
   * Queues records to be written together with every other append queued in this tick: concurrent
   * appenders of a few records each share one batch, one `write(2)` and, with `fsync: 'always'`, one
   * fsync. Resolves with the first offset of these records once they are written (readable), before
   * any fsync. Records without a timestamp get `now` of the first append of the batch.
   */
  enqueue(records: readonly EncodableRecord[], now: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ records, now, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flushQueue());
      }
    });
  }

  /** Writes what {@link enqueue} holds now, as one batch. Called before any direct write, so that offsets keep the order of the calls. */
  flushQueue(): void {
    this.flushScheduled = false;
    const queued = this.queue;
    if (queued.length === 0) return;
    this.queue = [];
    const oneByOne = () => {
      for (const q of queued) {
        try {
          q.resolve(this.write(this.encode(q.records, q.now)));
        } catch (err) {
          q.reject(err);
        }
      }
    };
    if (queued.length === 1) return oneByOne();
    let batch: Buffer;
    try {
      batch = this.encode(queued.flatMap((q) => q.records), queued[0]!.now);
    } catch {
      // One append's value cannot be stored: write the appends one by one, so that only that one fails.
      return oneByOne();
    }
    let offset: number;
    try {
      offset = this.write(batch);
    } catch (err) {
      for (const q of queued) q.reject(err);
      return;
    }
    for (const q of queued) {
      q.resolve(offset);
      offset += q.records.length;
    }
  }

  private roll(): void {
    const next = Segment.create(this.dir, this.end);
    this.directoryUnsynced = true;
    if (this.config().fsync !== 'never') {
      // Make the new file's directory entry durable too, or a crash could lose a synced segment.
      try {
        fsyncDirectory(this.dir);
      } catch (cause) {
        next.delete();
        throw storageError('syncing partition directory', this.dir, cause);
      }
      this.directoryUnsynced = false;
    }
    this.segments.push(next);
    this.needsCompaction = true;
  }

  /** The failed fsync that stopped appends, if one did. */
  private syncFailure: StorageError | undefined;
  /** Set when background work met a batch failing its CRC after open. */
  damageFound = false;

  /** True when a segment holds a batch that failed its CRC (compaction leaves such a partition alone). */
  get damaged(): boolean {
    return this.damageFound || this.segments.some((s) => s.damagedBatches.length > 0 || s.damagedBytes > 0);
  }

  /** Set when a segment was created without syncing the directory (`fsync: 'never'`). */
  private directoryUnsynced = false;

  /** Resolves when everything written before the call is on disk (shared fsync), new segments' names included. */
  sync(): Promise<void> {
    if (this.directoryUnsynced) {
      try {
        fsyncDirectory(this.dir);
      } catch (cause) {
        return Promise.reject(storageError('syncing partition directory', this.dir, cause));
      }
      this.directoryUnsynced = false;
    }
    return this.groupSync.sync();
  }

  /** True when no fsync runs or waits. */
  get syncIdle(): boolean {
    return this.groupSync.idle;
  }

  private async syncUnsynced(): Promise<void> {
    const segments = [...this.unsynced];
    this.unsynced.clear();
    this.lastSyncStartedAt = Date.now();
    this.fsyncs += segments.length;
    try {
      await Promise.all(segments.map((s) => s.sync()));
    } catch (cause) {
      // After a failed fsync the kernel may have dropped the pages it could not write, and a retry can
      // report success for data that is gone: the partition takes no more appends until it is reopened
      // (recovery then reads what really is on disk).
      this.syncFailure ??= storageError('fsync of partition', this.dir, cause);
      throw this.syncFailure;
    }
  }

  /** Synchronous flush of every unsynced segment (interval timer, close). */
  syncNow(): void {
    this.fsyncs += this.unsynced.size;
    for (const s of this.unsynced) s.syncNow();
    this.unsynced.clear();
  }

  get hasUnsynced(): boolean {
    return this.unsynced.size > 0;
  }

  read(offset: number, max: number): LogRecord[] {
    const out: LogRecord[] = [];
    if (max <= 0) return out;
    let from = Math.max(offset, this.start);
    let i = this.segmentIndexFor(from);
    try {
      for (; i < this.segments.length && out.length < max; i++) {
        const seg = this.segments[i]!;
        if (seg.nextOffset <= from) continue;
        seg.read(this.index, from, max, READ_BYTES, out);
        if (out.length > 0) from = out.at(-1)!.offset + 1;
        if (out.length > 0 && out.length < max && from < seg.nextOffset) break; // byte budget reached
      }
    } catch (err) {
      this.corruptReads++;
      throw err;
    }
    return out;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  offsetForTimestamp(ts: number): number {
    for (const seg of this.segments) {
      const o = seg.offsetForTimestamp(this.index, ts);
      if (o !== undefined) return o;
    }
    return this.end;
  }

  /** Deletes sealed segments past the retention time or size; returns how many. */
  enforceRetention(now: number): number {
    const { retentionMs, retentionBytes } = this.config();
    let deleted = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const expired = retentionMs !== null && oldest.maxTimestamp < now - retentionMs;
      const oversized = retentionBytes !== null && this.size - oldest.size >= retentionBytes;
      if (!expired && !oversized) break;
      this.unsynced.delete(oldest);
      oldest.delete();
      this.segments.shift();
      deleted++;
    }
    return deleted;
  }

  /** Sealed segments, oldest first (compaction's input). */
  sealedSegments(): Segment[] {
    return this.segments.slice(0, -1);
  }

  /** All segments, oldest first. */
  allSegments(): Segment[] {
    return [...this.segments];
  }

  /** Puts `replacement` (a compacted copy, or nothing when it became empty) in place of `old`. */
  replaceSegment(old: Segment, replacement: Segment | null): void {
    const i = this.segments.indexOf(old);
    if (i < 0 || i === this.segments.length - 1) throw new Error('only a sealed segment of this partition can be replaced');
    this.unsynced.delete(old);
    if (replacement) {
      replacement.nextOffset = old.nextOffset;
      this.segments[i] = replacement;
    } else {
      this.segments.splice(i, 1);
    }
  }

  /** Set by {@link close}: background work on the partition (compaction) stops at its next step. */
  closed = false;

  close(): void {
    try {
      this.flushQueue();
      this.closed = true;
      this.syncNow();
    } finally {
      this.closed = true;
      for (const s of this.segments) s.close();
    }
  }
}
