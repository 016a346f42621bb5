import { crc32c } from '@node-rs/crc32';
import { CorruptDataError } from '../../core/errors.js';
import { stringifyValue } from '../record-codec.js';
import type { LogRecord } from '../../core/record.js';

/**
 * The on-disk record batch of the embedded log (little-endian):
 *
 * | at | size | field |
 * |---|---|---|
 * | 0  | 4 | batch length in bytes, header included |
 * | 4  | 4 | CRC32C of bytes 8 … end |
 * | 8  | 1 | format version (1) |
 * | 9  | 3 | reserved (0) |
 * | 12 | 4 | record count |
 * | 16 | 8 | base offset (float64, an integer) |
 * | 24 | 4 | offset delta of the last record |
 * | 28 | 4 | reserved (0) |
 * | 32 | 8 | timestamp of the first record (float64 ms) |
 * | 40 | 8 | largest timestamp in the batch |
 * | 48 | … | records |
 *
 * A record: u32 offset delta, f64 timestamp, i32 key length (−1: no key), key (UTF-8), u8 value type
 * (0 JSON, 1 raw bytes, 2 null), u32 value length, value. Offset deltas let compaction drop records
 * and keep the offsets of the others.
 */
export const BATCH_HEADER = 48;
const RECORD_HEADER = 21;
const VERSION = 1;
const VALUE_JSON = 0;
const VALUE_BYTES = 1;
const VALUE_NULL = 2;

/** A record ready to be framed into a batch. */
export interface EncodableRecord {
  /** Its offset; absent, the offsets follow each other from the batch's base offset. */
  offset?: number;
  /** Absent: the batch's default timestamp. */
  timestamp?: number;
  key?: string | null;
  value: unknown;
}

/** What the header of a batch says. */
export interface BatchHeader {
  length: number;
  crc: number;
  count: number;
  baseOffset: number;
  lastOffset: number;
  firstTimestamp: number;
  maxTimestamp: number;
}

/** The buffer batches are framed in, reused from one batch to the next; it grows to the largest batch. */
let scratch = Buffer.allocUnsafe(1 << 20);
/** A DataView of `scratch`: its setters are cheaper than Buffer's checked write*LE methods on the per-record path. */
let scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

/** A key's or value's UTF-8 bytes take at most 3 bytes per UTF-16 code unit. */
const MAX_UTF8_PER_UNIT = 3;

/**
 * Encodes records (their offsets ascending) into one batch. Values that are `Uint8Array`s are stored
 * as raw bytes, `null`/`undefined` as null, anything else as JSON.
 *
 * The batch is framed in a buffer that the next call reuses: write it out (or copy it) before
 * encoding another. Framing in place, with no buffer per record, is what keeps appends fast.
 */
export function encodeBatch(records: readonly EncodableRecord[], baseOffset: number, defaultTimestamp: number): Buffer {
  const n = records.length;
  const json: (string | undefined)[] = new Array(n);
  let bound = BATCH_HEADER;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const v = r.value;
    let valueBound = 0;
    if (v instanceof Uint8Array) valueBound = v.length;
    else if (v !== null && v !== undefined) {
      const text = stringifyValue(v, i);
      json[i] = text;
      valueBound = text.length * MAX_UTF8_PER_UNIT;
    }
    const key = r.key;
    bound += RECORD_HEADER + valueBound + (key === null || key === undefined ? 0 : key.length * MAX_UTF8_PER_UNIT);
  }
  if (scratch.length < bound) {
    scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
    scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  }
  const buf = scratch;
  const view = scratchView;
  let at = BATCH_HEADER;
  let maxTs = -Infinity;
  let firstTs = 0;
  let lastOffset = baseOffset;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const offset = r.offset ?? baseOffset + i;
    const ts = r.timestamp ?? defaultTimestamp;
    if (i === 0) firstTs = ts;
    if (ts > maxTs) maxTs = ts;
    lastOffset = offset;
    view.setUint32(at, offset - baseOffset, true);
    view.setFloat64(at + 4, ts, true);
    const key = r.key;
    let keyLength = -1;
    if (key !== null && key !== undefined) keyLength = buf.write(key, at + 16, 'utf8');
    view.setInt32(at + 12, keyLength, true);
    at += 16 + Math.max(keyLength, 0);
    const v = r.value;
    const text = json[i];
    let valueLength = 0;
    if (text !== undefined) {
      buf[at] = VALUE_JSON;
      valueLength = buf.write(text, at + 5, 'utf8');
    } else if (v instanceof Uint8Array) {
      buf[at] = VALUE_BYTES;
      buf.set(v, at + 5);
      valueLength = v.length;
    } else {
      buf[at] = VALUE_NULL;
    }
    view.setUint32(at + 1, valueLength, true);
    at += 5 + valueLength;
  }
  buf.writeUInt32LE(at, 0);
  buf.writeUInt32LE(VERSION, 8); // version, then 3 reserved bytes
  buf.writeUInt32LE(n, 12);
  buf.writeDoubleLE(baseOffset, 16);
  buf.writeUInt32LE(lastOffset - baseOffset, 24);
  buf.writeUInt32LE(0, 28);
  buf.writeDoubleLE(firstTs, 32);
  buf.writeDoubleLE(maxTs, 40);
  const batch = buf.subarray(0, at);
  batch.writeUInt32LE(crc32c(batch.subarray(8)), 4);
  return batch;
}

export { UnencodableValueError } from '../record-codec.js';

/** Reads the header of the batch at `at`; `undefined` when fewer than a header's bytes remain. */
export function readHeader(buf: Buffer, at: number): BatchHeader | undefined {
  if (at + BATCH_HEADER > buf.length) return undefined;
  const baseOffset = buf.readDoubleLE(at + 16);
  return {
    length: buf.readUInt32LE(at),
    crc: buf.readUInt32LE(at + 4),
    count: buf.readUInt32LE(at + 12),
    baseOffset,
    lastOffset: baseOffset + buf.readUInt32LE(at + 24),
    firstTimestamp: buf.readDoubleLE(at + 32),
    maxTimestamp: buf.readDoubleLE(at + 40),
  };
}

/** True when the batch at `at` is complete, well-formed and its CRC matches. */
export function batchIsValid(buf: Buffer, at: number, h: BatchHeader): boolean {
  if (h.length < BATCH_HEADER || at + h.length > buf.length) return false;
  if (buf.readUInt8(at + 8) !== VERSION) return false;
  return crc32c(buf.subarray(at + 8, at + h.length)) === h.crc;
}

/**
 * Decodes the records of a batch with offset ≥ `fromOffset`, at most `max` of them, into `out`.
 * The caller has checked the batch with {@link batchIsValid} (readers and `Segment.batches` do, once).
 * `decodeValues: false` leaves values out (for compaction, which needs only keys and offsets).
 */
export function decodeCheckedBatch(buf: Buffer, at: number, h: BatchHeader, partition: number, fromOffset: number, max: number, out: LogRecord[], where: string, decodeValues = true): void {
  const end = at + h.length;
  let p = at + BATCH_HEADER;
  for (let i = 0; i < h.count && out.length < max; i++) {
    const offset = h.baseOffset + buf.readUInt32LE(p);
    const timestamp = buf.readDoubleLE(p + 4);
    const keyLen = buf.readInt32LE(p + 12);
    p += 16;
    const key = keyLen < 0 ? null : buf.toString('utf8', p, p + keyLen);
    if (keyLen > 0) p += keyLen;
    const type = buf.readUInt8(p);
    const valueLen = buf.readUInt32LE(p + 1);
    p += 5;
    if (p + valueLen > end) throw new CorruptDataError(`record at offset ${offset} of ${where} runs past its batch`);
    if (offset >= fromOffset) {
      let value: unknown = null;
      if (decodeValues) {
        if (type === VALUE_JSON) value = JSON.parse(buf.toString('utf8', p, p + valueLen));
        else if (type === VALUE_BYTES) value = buf.subarray(p, p + valueLen);
      } else if (type !== VALUE_NULL) {
        value = true;
      }
      out.push({ partition, offset, key, timestamp, value });
    }
    p += valueLen;
  }
}
