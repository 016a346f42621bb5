import fs from 'node:fs';
import path from 'node:path';
import type { LogRecord } from '../../core/record.js';
import { decodeBatch, encodeBatch, type EncodableRecord } from './batch-format.js';
import type { Partition } from './partition.js';
import { Segment, segmentName } from './segment.js';

/** What one compaction pass did. */
export interface CompactionResult {
  segmentsRewritten: number;
  recordsRemoved: number;
}

const BATCH_RECORDS = 1000;

/**
 * Key compaction of one partition: in every sealed segment, keep only the latest record of each key;
 * drop tombstones (null values) once their segment's newest timestamp is older than
 * `deleteRetentionMs`. Each segment is rewritten into a new file and swapped in atomically (rename);
 * the active segment is never touched, so appends go on, and readers see either the old or the new
 * segment. Yields to the event loop between segments.
 */
export async function compactPartition(partition: Partition, now: number, deleteRetentionMs: number): Promise<CompactionResult> {
  const result: CompactionResult = { segmentsRewritten: 0, recordsRemoved: 0 };
  const sealed = partition.sealedSegments();
  if (sealed.length === 0) return result;
  const latest = new Map<string, number>();
  for (const seg of partition.allSegments()) {
    for (const { header, buf } of seg.batches()) {
      const keys: LogRecord[] = [];
      decodeBatch(buf, 0, header, partition.index, 0, Infinity, keys, seg.logPath, false);
      for (const r of keys) if (r.key !== null) latest.set(r.key, r.offset);
    }
  }
  for (const seg of sealed) {
    await new Promise((r) => setImmediate(r));
    const dropTombstones = seg.maxTimestamp < now - deleteRetentionMs;
    const kept: EncodableRecord[] = [];
    let total = 0;
    for (const { header, buf } of seg.batches()) {
      const records: LogRecord[] = [];
      decodeBatch(buf, 0, header, partition.index, 0, Infinity, records, seg.logPath);
      total += records.length;
      for (const r of records) {
        if (r.key === null || latest.get(r.key) !== r.offset) continue;
        if (r.value === null && dropTombstones) continue;
        kept.push({ offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
      }
    }
    if (kept.length === total) continue;
    result.recordsRemoved += total - kept.length;
    result.segmentsRewritten++;
    const name = segmentName(seg.baseOffset);
    if (kept.length === 0) {
      partition.replaceSegment(seg, null);
      seg.delete();
      continue;
    }
    const cleanedPath = path.join(partition.dir, `${name}.log.cleaned`);
    const fd = fs.openSync(cleanedPath, 'w');
    try {
      let pos = 0;
      for (let i = 0; i < kept.length; i += BATCH_RECORDS) {
        const slice = kept.slice(i, i + BATCH_RECORDS);
        const batch = encodeBatch(slice, slice[0]!.offset!, 0);
        fs.writeSync(fd, batch, 0, batch.length, pos);
        pos += batch.length;
      }
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Indexes go first: a crash between here and the rename rebuilds them from whichever log file is there.
    seg.close();
    fs.rmSync(path.join(partition.dir, `${name}.index`), { force: true });
    fs.rmSync(path.join(partition.dir, `${name}.timeindex`), { force: true });
    fs.renameSync(cleanedPath, seg.logPath);
    const { segment } = Segment.open(partition.dir, seg.baseOffset, false);
    partition.replaceSegment(seg, segment);
  }
  partition.needsCompaction = false;
  return result;
}
