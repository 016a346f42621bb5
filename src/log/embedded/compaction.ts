import fs from 'node:fs';
import path from 'node:path';
import type { LogRecord } from '../../core/record.js';
import { decodeCheckedBatch, encodeBatch } from './batch-format.js';
import type { Partition } from './partition.js';
import { fsyncDirectory } from '../../core/durable-fs.js';
import { Segment, segmentName } from './segment.js';

/** What one compaction pass did. */
export interface CompactionResult {
  segmentsRewritten: number;
  recordsRemoved: number;
}

const BATCH_RECORDS = 1000;
/** Compaction yields to the event loop after this many batches, so appends and reads go on meanwhile. */
const BATCHES_PER_SLICE = 256;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Key compaction of one partition: in every sealed segment, keep only the latest record of each key;
 * drop tombstones (null values) once their segment's newest timestamp is older than
 * `deleteRetentionMs`. A segment that loses records is streamed into `<base>.log.cleaned`, fsynced and
 * renamed over the original; the active segment is never touched. Work is cut into slices of
 * {@link BATCHES_PER_SLICE} batches with a yield between them, so appends and readers never wait
 * long; readers see either the old or the new segment. The latest offset of every key is held in
 * memory (a map of key → offset) for the pass.
 */
export async function compactPartition(partition: Partition, now: number, deleteRetentionMs: number): Promise<CompactionResult> {
  const result: CompactionResult = { segmentsRewritten: 0, recordsRemoved: 0 };
  if (partition.sealedSegments().length === 0) return result;
  let sinceYield = 0;
  const pace = async () => {
    if (++sinceYield < BATCHES_PER_SLICE) return;
    sinceYield = 0;
    await yieldToEventLoop();
  };
  // Which offset holds the latest record of each key (as of now: records appended later are newer still).
  const latest = new Map<string, number>();
  for (const seg of partition.allSegments()) {
    for (const { header, buf } of seg.batches()) {
      const keys: LogRecord[] = [];
      decodeCheckedBatch(buf, 0, header, partition.index, 0, Infinity, keys, seg.logPath, false);
      for (const r of keys) if (r.key !== null) latest.set(r.key, r.offset);
      await pace();
      if (partition.closed) return result;
    }
  }
  for (const seg of partition.sealedSegments()) {
    await yieldToEventLoop();
    if (partition.closed) return result;
    const dropTombstones = seg.maxTimestamp < now - deleteRetentionMs;
    // A record without a key has no later version (it can only come from before the topic became compacted): it stays.
    const keep = (r: LogRecord) => r.key === null || (latest.get(r.key) === r.offset && !(r.value === null && dropTombstones));
    // First pass, keys only: does this segment lose anything?
    let total = 0;
    let kept = 0;
    for (const { header, buf } of seg.batches()) {
      const records: LogRecord[] = [];
      decodeCheckedBatch(buf, 0, header, partition.index, 0, Infinity, records, seg.logPath, false);
      total += records.length;
      for (const r of records) if (keep(r)) kept++;
      await pace();
      if (partition.closed) return result;
    }
    if (kept === total) continue;
    result.recordsRemoved += total - kept;
    result.segmentsRewritten++;
    if (kept === 0) {
      partition.replaceSegment(seg, null);
      seg.delete();
      fsyncDirectory(partition.dir);
      continue;
    }
    const name = segmentName(seg.baseOffset);
    const cleanedPath = path.join(partition.dir, `${name}.log.cleaned`);
    const fd = fs.openSync(cleanedPath, 'w');
    let complete = false;
    try {
      let pos = 0;
      let pending: LogRecord[] = [];
      const flush = () => {
        if (pending.length === 0) return;
        const batch = encodeBatch(pending, pending[0]!.offset, 0);
        fs.writeSync(fd, batch, 0, batch.length, pos);
        pos += batch.length;
        pending = [];
      };
      for (const { header, buf } of seg.batches()) {
        const records: LogRecord[] = [];
        decodeCheckedBatch(buf, 0, header, partition.index, 0, Infinity, records, seg.logPath);
        for (const r of records) if (keep(r)) pending.push(r);
        if (pending.length >= BATCH_RECORDS) flush();
        await pace();
        if (partition.closed) return result;
      }
      flush();
      fs.fdatasyncSync(fd);
      complete = true;
    } finally {
      fs.closeSync(fd);
      if (!complete) fs.rmSync(cleanedPath, { force: true });
    }
    // Indexes go first: a crash between here and the rename rebuilds them from whichever log file is there.
    seg.close();
    let swapped = false;
    try {
      fs.rmSync(path.join(partition.dir, `${name}.index`), { force: true });
      fs.rmSync(path.join(partition.dir, `${name}.timeindex`), { force: true });
      fs.renameSync(cleanedPath, seg.logPath);
      swapped = true;
      fsyncDirectory(partition.dir);
    } finally {
      // Whether the swap happened or not, the partition gets a live segment for this base offset back.
      if (!swapped) fs.rmSync(cleanedPath, { force: true });
      partition.replaceSegment(seg, Segment.open(partition.dir, seg.baseOffset, false).segment);
    }
  }
  partition.needsCompaction = false;
  return result;
}
