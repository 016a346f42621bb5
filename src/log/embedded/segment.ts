import fs from 'node:fs';
import path from 'node:path';
import { CorruptDataError, StorageError } from '../../core/errors.js';
import type { LogRecord } from '../../core/record.js';
import { BATCH_HEADER, batchIsValid, decodeBatch, readHeader, type BatchHeader } from './batch-format.js';

/** A new offset-index entry is written after this many bytes of batches (Kafka's index.interval.bytes). */
const INDEX_INTERVAL = 4096;
const OFFSET_ENTRY = 8; // u32 relative offset, u32 position
const TIME_ENTRY = 12; // f64 largest timestamp so far, u32 position
const SCAN_CHUNK = 1 << 20;

/** The file name of a segment: its base offset in 20 digits, as Kafka names them. */
export function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

function storage(what: string, file: string, cause: unknown): StorageError {
  const e = cause as NodeJS.ErrnoException;
  return new StorageError(`${what} ${file} failed: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '), { cause });
}

function readWhole(fd: number): Buffer {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = fs.readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * One segment of a partition: `<base>.log` holds batches; `<base>.index` maps offsets to byte
 * positions and `<base>.timeindex` maps timestamps to byte positions, both sparse (an entry every
 * 4 KiB of batches) and both rebuilt from the log file when missing or damaged.
 */
export class Segment {
  readonly logPath: string;
  private fd: number;
  private indexFd: number;
  private timeIndexFd: number;
  /** Bytes of valid batches. */
  size = 0;
  /** One past the offset of the last record (the base offset while empty). */
  nextOffset: number;
  /** Largest record timestamp, −Infinity while empty. */
  maxTimestamp = -Infinity;
  /** Wall-clock time the segment was created, for rolling by age. */
  createdAt: number;
  /** Bytes of a damaged tail in a sealed segment (kept, never served). */
  damagedBytes = 0;
  dirty = false;
  private idxOffsets: number[] = [];
  private idxPositions: number[] = [];
  private tIdxTimestamps: number[] = [];
  private tIdxPositions: number[] = [];
  private bytesSinceIndex = 0;
  private bytesSinceTimeIndex = 0;

  private constructor(readonly dir: string, readonly baseOffset: number) {
    const name = segmentName(baseOffset);
    this.logPath = path.join(dir, `${name}.log`);
    this.nextOffset = baseOffset;
    this.createdAt = Date.now();
    try {
      this.fd = fs.openSync(this.logPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      this.indexFd = fs.openSync(path.join(dir, `${name}.index`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      this.timeIndexFd = fs.openSync(path.join(dir, `${name}.timeindex`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (cause) {
      throw storage('opening segment', this.logPath, cause);
    }
  }

  /** A new, empty segment starting at `baseOffset`. */
  static create(dir: string, baseOffset: number): Segment {
    return new Segment(dir, baseOffset);
  }

  /**
   * Opens an existing segment. The active (last) one is scanned whole: a torn or corrupt tail is cut off
   * and its indexes are rebuilt. A sealed one keeps its indexes when they are sound (only the part after
   * the last index entry is read); otherwise they are rebuilt.
   */
  static open(dir: string, baseOffset: number, active: boolean): { segment: Segment; truncatedBytes: number } {
    const s = new Segment(dir, baseOffset);
    const fileSize = fs.fstatSync(s.fd).size;
    const stat = fs.fstatSync(s.fd);
    s.createdAt = stat.birthtimeMs > 0 ? stat.birthtimeMs : stat.ctimeMs;
    let from = 0;
    if (!active && s.loadIndexes(fileSize)) {
      from = Math.min(s.idxPositions.at(-1) ?? 0, s.tIdxPositions.at(-1) ?? 0);
      // Entries at or past `from` are recomputed by the scan below.
      s.dropIndexEntriesFrom(from);
    } else {
      s.resetIndexes();
    }
    const truncatedBytes = s.scan(from, fileSize, active);
    return { segment: s, truncatedBytes };
  }

  private loadIndexes(fileSize: number): boolean {
    const idx = readWhole(this.indexFd);
    const tidx = readWhole(this.timeIndexFd);
    if (fileSize > 0 && idx.length === 0) return false;
    if (idx.length % OFFSET_ENTRY !== 0 || tidx.length % TIME_ENTRY !== 0) return false;
    let lastPos = -1;
    for (let at = 0; at < idx.length; at += OFFSET_ENTRY) {
      const pos = idx.readUInt32LE(at + 4);
      if (pos <= lastPos || pos >= fileSize) return false;
      lastPos = pos;
      this.idxOffsets.push(idx.readUInt32LE(at));
      this.idxPositions.push(pos);
    }
    lastPos = -1;
    for (let at = 0; at < tidx.length; at += TIME_ENTRY) {
      const pos = tidx.readUInt32LE(at + 8);
      if (pos <= lastPos || pos >= fileSize) return false;
      lastPos = pos;
      this.tIdxTimestamps.push(tidx.readDoubleLE(at));
      this.tIdxPositions.push(pos);
    }
    return true;
  }

  private resetIndexes(): void {
    this.idxOffsets = [];
    this.idxPositions = [];
    this.tIdxTimestamps = [];
    this.tIdxPositions = [];
    fs.ftruncateSync(this.indexFd, 0);
    fs.ftruncateSync(this.timeIndexFd, 0);
  }

  private dropIndexEntriesFrom(position: number): void {
    while (this.idxPositions.length > 0 && this.idxPositions.at(-1)! >= position) {
      this.idxPositions.pop();
      this.idxOffsets.pop();
    }
    while (this.tIdxPositions.length > 0 && this.tIdxPositions.at(-1)! >= position) {
      this.tIdxPositions.pop();
      this.tIdxTimestamps.pop();
    }
    fs.ftruncateSync(this.indexFd, this.idxPositions.length * OFFSET_ENTRY);
    fs.ftruncateSync(this.timeIndexFd, this.tIdxPositions.length * TIME_ENTRY);
    if (this.tIdxTimestamps.length > 0) this.maxTimestamp = this.tIdxTimestamps.at(-1)!;
  }

  /** Walks the batches from `from`, checking each, adding index entries; returns the bytes cut off (active only). */
  private scan(from: number, fileSize: number, truncate: boolean): number {
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    let pos = from;
    for (;;) {
      if (pos + BATCH_HEADER > fileSize) break;
      if (pos + BATCH_HEADER > bufStart + buf.length) {
        buf = this.readAt(pos, Math.min(SCAN_CHUNK, fileSize - pos));
        bufStart = pos;
      }
      const h = readHeader(buf, pos - bufStart)!;
      if (h.length < BATCH_HEADER || pos + h.length > fileSize) break;
      if (pos + h.length > bufStart + buf.length) {
        buf = this.readAt(pos, Math.max(h.length, Math.min(SCAN_CHUNK, fileSize - pos)));
        bufStart = pos;
      }
      if (!batchIsValid(buf, pos - bufStart, h)) break;
      if (h.baseOffset < this.nextOffset && pos > 0) break; // offsets must grow: anything else is damage
      this.noteBatch(h, pos);
      pos += h.length;
    }
    this.size = pos;
    const rest = fileSize - pos;
    if (rest > 0) {
      if (truncate) fs.ftruncateSync(this.fd, pos);
      else this.damagedBytes = rest;
    }
    return truncate ? rest : 0;
  }

  private readAt(pos: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, buf, got, length - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  /** Updates offsets, timestamps and the sparse indexes for a batch written at `position`. */
  private noteBatch(h: BatchHeader, position: number): void {
    if (this.idxPositions.length === 0 || this.bytesSinceIndex >= INDEX_INTERVAL) {
      const entry = Buffer.allocUnsafe(OFFSET_ENTRY);
      entry.writeUInt32LE(h.baseOffset - this.baseOffset, 0);
      entry.writeUInt32LE(position, 4);
      fs.writeSync(this.indexFd, entry, 0, OFFSET_ENTRY, this.idxPositions.length * OFFSET_ENTRY);
      this.idxOffsets.push(h.baseOffset - this.baseOffset);
      this.idxPositions.push(position);
      this.bytesSinceIndex = 0;
    }
    if (h.maxTimestamp > this.maxTimestamp) {
      if (this.tIdxPositions.length === 0 || this.bytesSinceTimeIndex >= INDEX_INTERVAL) {
        const entry = Buffer.allocUnsafe(TIME_ENTRY);
        // The largest timestamp *before* this batch: every batch before `position` is older than it.
        entry.writeDoubleLE(this.maxTimestamp, 0);
        entry.writeUInt32LE(position, 8);
        fs.writeSync(this.timeIndexFd, entry, 0, TIME_ENTRY, this.tIdxPositions.length * TIME_ENTRY);
        this.tIdxTimestamps.push(this.maxTimestamp);
        this.tIdxPositions.push(position);
        this.bytesSinceTimeIndex = 0;
      }
      this.maxTimestamp = h.maxTimestamp;
    }
    this.bytesSinceIndex += h.length;
    this.bytesSinceTimeIndex += h.length;
    this.nextOffset = h.lastOffset + 1;
  }

  /** Appends an encoded batch. On a failed write the file is cut back, so no partial batch remains. */
  append(batch: Buffer): void {
    const h = readHeader(batch, 0)!;
    try {
      let written = 0;
      while (written < batch.length) written += fs.writeSync(this.fd, batch, written, batch.length - written, this.size + written);
    } catch (cause) {
      try {
        fs.ftruncateSync(this.fd, this.size);
      } catch {
        // The write error is the one to report; recovery on open cuts the torn tail anyway.
      }
      throw storage('appending to', this.logPath, cause);
    }
    const position = this.size;
    this.size += batch.length;
    this.dirty = true;
    try {
      this.noteBatch(h, position);
    } catch (cause) {
      // The batch is in the log file; indexes are rebuilt from it on the next open.
      throw storage('updating the index of', this.logPath, cause);
    }
  }

  /** Byte position from which to scan for `offset`. */
  private positionFor(offset: number): number {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.idxOffsets.length - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.idxOffsets[mid]! <= rel) {
        best = this.idxPositions[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /**
   * Reads records with offset ≥ `fromOffset` into `out` until it holds `max` records or about
   * `maxBytes` were read. Returns false when the end of the segment was reached.
   */
  read(partition: number, fromOffset: number, max: number, maxBytes: number, out: LogRecord[]): void {
    let pos = this.positionFor(fromOffset);
    let budget = maxBytes;
    while (pos < this.size && out.length < max && budget > 0) {
      const want = Math.min(Math.max(budget, BATCH_HEADER), this.size - pos);
      let buf: Buffer = this.readAt(pos, want);
      let at = 0;
      let progressed = false;
      while (out.length < max) {
        const h = readHeader(buf, at);
        if (!h) break;
        if (h.length < BATCH_HEADER) throw new CorruptDataError(`batch at byte ${pos + at} of ${this.logPath} has a damaged header`);
        if (at + h.length > buf.length) {
          if (at > 0) break; // read the rest from this batch on
          buf = this.readAt(pos, Math.min(h.length, this.size - pos));
          if (buf.length < h.length) throw new CorruptDataError(`batch at byte ${pos} of ${this.logPath} is cut short`);
        }
        if (h.lastOffset >= fromOffset) decodeBatch(buf, at, h, partition, fromOffset, max, out, this.logPath);
        at += h.length;
        progressed = true;
      }
      if (!progressed) break;
      pos += at;
      budget -= at;
    }
  }

  /** Offset of the first record with timestamp ≥ `ts` in this segment, or undefined when there is none. */
  offsetForTimestamp(partition: number, ts: number): number | undefined {
    if (this.maxTimestamp < ts) return undefined;
    let lo = 0;
    let hi = this.tIdxTimestamps.length - 1;
    let pos = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.tIdxTimestamps[mid]! < ts) {
        pos = this.tIdxPositions[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    while (pos < this.size) {
      const head = this.readAt(pos, BATCH_HEADER);
      const h = readHeader(head, 0)!;
      if (h.maxTimestamp >= ts) {
        const buf = this.readAt(pos, h.length);
        const records: LogRecord[] = [];
        decodeBatch(buf, 0, h, partition, 0, Infinity, records, this.logPath, false);
        const hit = records.find((r) => r.timestamp >= ts);
        if (hit) return hit.offset;
      }
      pos += h.length;
    }
    return undefined;
  }

  /** Every batch of the segment in order, with its bytes (for compaction). */
  *batches(): Generator<{ header: BatchHeader; buf: Buffer; at: number }> {
    let pos = 0;
    while (pos < this.size) {
      const head = this.readAt(pos, BATCH_HEADER);
      const h = readHeader(head, 0)!;
      const buf = this.readAt(pos, h.length);
      yield { header: h, buf, at: 0 };
      pos += h.length;
    }
  }

  get fileDescriptor(): number {
    return this.fd;
  }

  /** fdatasync of the log file (indexes are rebuilt on open when needed, so they are not synced). */
  syncNow(): void {
    fs.fdatasyncSync(this.fd);
    this.dirty = false;
  }

  close(): void {
    for (const fd of [this.fd, this.indexFd, this.timeIndexFd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
  }

  /** Closes and removes the segment's files. */
  delete(): void {
    this.close();
    const name = segmentName(this.baseOffset);
    for (const ext of ['.log', '.index', '.timeindex']) fs.rmSync(path.join(this.dir, `${name}${ext}`), { force: true });
  }
}
