import fs from 'node:fs';
import path from 'node:path';
import { CorruptDataError, storageError } from '../../core/errors.js';
import type { LogRecord } from '../../core/record.js';
import { BATCH_HEADER, batchIsValid, decodeCheckedBatch, readHeader, type BatchHeader } from './batch-format.js';

/** A new offset-index entry is written after this many bytes of batches (Kafka's index.interval.bytes). */
const INDEX_INTERVAL = 4096;
const OFFSET_ENTRY = 8; // u32 relative offset, u32 position
const TIME_ENTRY = 12; // f64 largest timestamp so far, u32 position
const SCAN_CHUNK = 1 << 20;
/** Reads fetch this much at a time (a batch larger than it is read whole); raw values keep their chunk alive. */
const READ_CHUNK = 256 * 1024;

/** The file name of a segment: its base offset in 20 digits, as Kafka names them. */
export function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
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

/** A batch found damaged in the middle of a segment when it was opened: kept in place, never served. */
export interface DamagedBatch {
  position: number;
  length: number;
  /** The offsets it held: from the end of the batch before it to the start of the batch after it. */
  firstOffset: number;
  lastOffset: number;
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
  /** One past the last offset of the intact batches found on open (below `nextOffset` when a sealed segment's tail is damaged). */
  intactEnd: number;
  /** Batches that failed their CRC in the middle of the segment when it was opened, with intact batches after them. */
  readonly damagedBatches: DamagedBatch[] = [];
  private closed = false;
  private syncsRunning = 0;
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
    this.intactEnd = baseOffset;
    this.createdAt = Date.now();
    const opened: number[] = [];
    try {
      const flags = fs.constants.O_RDWR | fs.constants.O_CREAT;
      for (const file of [this.logPath, path.join(dir, `${name}.index`), path.join(dir, `${name}.timeindex`)]) opened.push(fs.openSync(file, flags, 0o644));
    } catch (cause) {
      for (const fd of opened) fs.closeSync(fd);
      throw storageError('opening segment', this.logPath, cause);
    }
    [this.fd, this.indexFd, this.timeIndexFd] = opened as [number, number, number];
  }

  /** A new, empty segment starting at `baseOffset`; no file of it is left behind when it cannot be made. */
  static create(dir: string, baseOffset: number): Segment {
    try {
      return new Segment(dir, baseOffset);
    } catch (err) {
      const name = segmentName(baseOffset);
      try {
        for (const ext of ['.log', '.index', '.timeindex']) fs.rmSync(path.join(dir, `${name}${ext}`), { force: true });
      } catch {
        // The directory refuses changes: nothing was created in it either.
      }
      throw err;
    }
  }

  /**
   * Opens an existing segment. The active (last) one is scanned whole: a torn or corrupt tail is cut off
   * and its indexes are rebuilt. A sealed one keeps its indexes when they are sound (only the part after
   * the last index entry is read); otherwise they are rebuilt.
   */
  static open(dir: string, baseOffset: number, active: boolean): { segment: Segment; truncatedBytes: number } {
    const s = new Segment(dir, baseOffset);
    try {
      const stat = fs.fstatSync(s.fd);
      const fileSize = stat.size;
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
    } catch (err) {
      s.close();
      throw err;
    }
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

  /**
   * Walks the batches from `from`, checking each, adding index entries. A batch that fails its check
   * while an intact batch follows it rotted in place: it is kept, never served, so that the batches
   * after it stay readable. Anything else ends the scan: in the active segment the rest is a torn
   * write and is cut off (the bytes cut are returned); in a sealed one it is kept as a damaged tail.
   */
  private scan(from: number, fileSize: number, truncate: boolean): number {
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    /** Loads the batch at `pos` into `buf`; its header, or undefined when no whole batch fits in the file there. */
    const load = (pos: number): BatchHeader | undefined => {
      if (pos + BATCH_HEADER > fileSize) return undefined;
      if (pos < bufStart || pos + BATCH_HEADER > bufStart + buf.length) {
        buf = this.readAt(pos, Math.min(SCAN_CHUNK, fileSize - pos));
        bufStart = pos;
      }
      const h = readHeader(buf, pos - bufStart)!;
      if (h.length < BATCH_HEADER || pos + h.length > fileSize) return undefined;
      if (pos + h.length > bufStart + buf.length) {
        buf = this.readAt(pos, Math.max(h.length, Math.min(SCAN_CHUNK, fileSize - pos)));
        bufStart = pos;
      }
      return h;
    };
    // Offsets only grow within a segment: a batch that goes back is damage too.
    const intact = (pos: number, h: BatchHeader) => batchIsValid(buf, pos - bufStart, h) && (h.baseOffset >= this.nextOffset || pos === 0);
    let pos = from;
    for (;;) {
      const h = load(pos);
      if (!h) break;
      if (intact(pos, h)) {
        this.noteBatch(h, pos);
        pos += h.length;
        continue;
      }
      const nextPos = pos + h.length;
      const next = load(nextPos);
      if (!next || !intact(nextPos, next) || next.baseOffset <= this.nextOffset) break;
      this.damagedBatches.push({ position: pos, length: h.length, firstOffset: this.nextOffset, lastOffset: next.baseOffset - 1 });
      this.bytesSinceIndex += h.length;
      this.bytesSinceTimeIndex += h.length;
      this.nextOffset = next.baseOffset;
      pos = nextPos;
    }
    this.size = pos;
    this.intactEnd = this.nextOffset;
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

  /**
   * Updates offsets, timestamps and the sparse indexes for a batch written at `position`. The index
   * entries are written before anything changes in memory, so a failed write leaves the segment as it was.
   */
  private noteBatch(h: BatchHeader, position: number): void {
    const offsetEntry = this.idxPositions.length === 0 || this.bytesSinceIndex >= INDEX_INTERVAL;
    const timeEntry = h.maxTimestamp > this.maxTimestamp && (this.tIdxPositions.length === 0 || this.bytesSinceTimeIndex >= INDEX_INTERVAL);
    if (offsetEntry) {
      const entry = Buffer.allocUnsafe(OFFSET_ENTRY);
      entry.writeUInt32LE(h.baseOffset - this.baseOffset, 0);
      entry.writeUInt32LE(position, 4);
      fs.writeSync(this.indexFd, entry, 0, OFFSET_ENTRY, this.idxPositions.length * OFFSET_ENTRY);
    }
    if (timeEntry) {
      const entry = Buffer.allocUnsafe(TIME_ENTRY);
      // The largest timestamp *before* this batch: every batch before `position` is older than it.
      entry.writeDoubleLE(this.maxTimestamp, 0);
      entry.writeUInt32LE(position, 8);
      fs.writeSync(this.timeIndexFd, entry, 0, TIME_ENTRY, this.tIdxPositions.length * TIME_ENTRY);
    }
    if (offsetEntry) {
      this.idxOffsets.push(h.baseOffset - this.baseOffset);
      this.idxPositions.push(position);
      this.bytesSinceIndex = 0;
    }
    if (timeEntry) {
      this.tIdxTimestamps.push(this.maxTimestamp);
      this.tIdxPositions.push(position);
      this.bytesSinceTimeIndex = 0;
    }
    if (h.maxTimestamp > this.maxTimestamp) this.maxTimestamp = h.maxTimestamp;
    this.bytesSinceIndex += h.length;
    this.bytesSinceTimeIndex += h.length;
    this.nextOffset = h.lastOffset + 1;
    this.intactEnd = this.nextOffset;
  }

  /**
   * Appends an encoded batch. On a failed write (disk full, permission, I/O error) the file is cut back
   * and nothing changes: no partial batch remains, and the next append goes where this one would have.
   */
  append(batch: Buffer): void {
    const h = readHeader(batch, 0)!;
    const position = this.size;
    try {
      let written = 0;
      while (written < batch.length) written += fs.writeSync(this.fd, batch, written, batch.length - written, position + written);
      this.noteBatch(h, position);
    } catch (cause) {
      try {
        fs.ftruncateSync(this.fd, position);
      } catch {
        // The write error is the one to report; the next append overwrites the same bytes anyway.
      }
      throw storageError('appending to', this.logPath, cause);
    }
    this.size += batch.length;
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
   * `maxBytes` were read. A damaged batch (failing its CRC) is never decoded: when `out` already holds
   * records the read stops before it, otherwise it fails with a {@link CorruptDataError} that says where
   * a reader may resume. A damaged batch wholly before `fromOffset` is stepped over.
   */
  read(partition: number, fromOffset: number, max: number, maxBytes: number, out: LogRecord[]): void {
    let pos = this.positionFor(fromOffset);
    let budget = maxBytes;
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    while (pos < this.size && out.length < max && budget > 0) {
      const chunk = Math.min(budget, READ_CHUNK, this.size - pos);
      if (pos + BATCH_HEADER > bufStart + buf.length) {
        buf = this.readAt(pos, Math.max(chunk, BATCH_HEADER));
        bufStart = pos;
      }
      const h = readHeader(buf, pos - bufStart);
      const whole = h !== undefined && h.length >= BATCH_HEADER && pos + h.length <= this.size;
      if (whole && pos + h.length > bufStart + buf.length) {
        buf = this.readAt(pos, Math.max(h.length, chunk));
        bufStart = pos;
      }
      if (!whole || !batchIsValid(buf, pos - bufStart, h)) {
        const resume = this.resumeAfter(pos, whole ? h.length : undefined);
        const resumeOffset = resume.offset;
        if (resumeOffset <= fromOffset) {
          pos = resume.position;
          continue;
        }
        if (out.length > 0) return;
        throw new CorruptDataError(
          `records from offset ${fromOffset} of ${this.logPath} are in a batch at byte ${pos} that fails its CRC check; they are not served (records from offset ${resumeOffset} on are intact)`,
          { range: { offset: fromOffset, resumeOffset } },
        );
      }
      if (h.lastOffset >= fromOffset) decodeCheckedBatch(buf, pos - bufStart, h, partition, fromOffset, max, out, this.logPath);
      pos += h.length;
      budget -= h.length;
    }
    if (pos >= this.size && out.length === 0 && this.damagedBytes > 0 && fromOffset >= this.intactEnd && fromOffset < this.nextOffset) {
      throw new CorruptDataError(
        `records from offset ${fromOffset} to ${this.nextOffset - 1} of ${this.logPath} are in a damaged tail of ${this.damagedBytes} bytes; they are not served`,
        { range: { offset: fromOffset, resumeOffset: this.nextOffset } },
      );
    }
  }

  /** Where the intact records after the damaged batch at `pos` start: the next intact batch, or the end of the segment. */
  private resumeAfter(pos: number, length: number | undefined): { offset: number; position: number } {
    const known = this.damagedBatches.find((d) => d.position === pos);
    if (known) return { offset: known.lastOffset + 1, position: pos + known.length };
    const intactAt = (at: number) => {
      try {
        return { offset: this.checkedBatchAt(at).header.baseOffset, position: at };
      } catch {
        return undefined;
      }
    };
    if (length !== undefined) {
      const next = intactAt(pos + length);
      if (next) return next;
    }
    // The length cannot be trusted, or what follows is damaged too: the first intact batch that the
    // offset index points to after it (an entry every 4 KiB), else the end of the segment.
    for (let i = 0; i < this.idxPositions.length; i++) {
      if (this.idxPositions[i]! <= pos) continue;
      const next = intactAt(this.idxPositions[i]!);
      if (next) return next;
    }
    return { offset: this.nextOffset, position: this.size };
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
      const { header: h, buf } = this.checkedBatchAt(pos);
      if (h.maxTimestamp >= ts) {
        const records: LogRecord[] = [];
        decodeCheckedBatch(buf, 0, h, partition, 0, Infinity, records, this.logPath, false);
        const hit = records.find((r) => r.timestamp >= ts);
        if (hit) return hit.offset;
      }
      pos += h.length;
    }
    return undefined;
  }

  /** Every batch of the segment in order, with its bytes (for compaction); a damaged one throws {@link CorruptDataError}. */
  *batches(): Generator<{ header: BatchHeader; buf: Buffer; at: number }> {
    let pos = 0;
    while (pos < this.size) {
      const { header, buf } = this.checkedBatchAt(pos);
      yield { header, buf, at: 0 };
      pos += header.length;
    }
  }

  /** The whole batch at `pos`, checked: a length that does not fit or a CRC that fails throws {@link CorruptDataError}. */
  private checkedBatchAt(pos: number): { header: BatchHeader; buf: Buffer } {
    const h = pos + BATCH_HEADER <= this.size ? readHeader(this.readAt(pos, BATCH_HEADER), 0) : undefined;
    if (h && h.length >= BATCH_HEADER && pos + h.length <= this.size) {
      const buf = this.readAt(pos, h.length);
      if (batchIsValid(buf, 0, h)) return { header: h, buf };
    }
    throw new CorruptDataError(`the batch at byte ${pos} of ${this.logPath} fails its check; its records are not served`);
  }

  /** fdatasync of the log file (indexes are rebuilt on open when needed, so they are not synced). */
  syncNow(): void {
    if (this.closed) return;
    fs.fdatasyncSync(this.fd);
  }

  /**
   * fdatasync in the thread pool. A segment closed meanwhile (compaction swapped it, retention deleted
   * it) keeps its descriptors until the fdatasync is done: a descriptor closed under a running
   * fdatasync fails it, or worse, its number is reused by another file.
   */
  async sync(): Promise<void> {
    if (this.closed) return;
    this.syncsRunning++;
    try {
      await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      if (--this.syncsRunning === 0 && this.closed) this.closeDescriptors();
    }
  }

  /** Closes the segment's files (once no fdatasync runs on them); it cannot be used after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.syncsRunning === 0) this.closeDescriptors();
  }

  private closeDescriptors(): void {
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
