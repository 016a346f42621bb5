import { crc32c } from '@node-rs/crc32';
import { CorruptDataError } from '../../core/errors.js';
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
  offset: number;
  timestamp: number;
  key: string | null;
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

/** Encodes records (their offsets ascending) into one batch. */
export function encodeBatch(records: readonly EncodableRecord[]): Buffer {
  const n = records.length;
  const keys: (Buffer | null)[] = new Array(n);
  const values: (Buffer | Uint8Array | null)[] = new Array(n);
  const types = new Uint8Array(n);
  let size = BATCH_HEADER;
  let maxTs = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const k = r.key === null ? null : Buffer.from(r.key, 'utf8');
    keys[i] = k;
    let v: Buffer | Uint8Array | null;
    if (r.value instanceof Uint8Array) {
      v = r.value;
      types[i] = VALUE_BYTES;
    } else if (r.value === null || r.value === undefined) {
      v = null;
      types[i] = VALUE_NULL;
    } else {
      v = Buffer.from(JSON.stringify(r.value), 'utf8');
      types[i] = VALUE_JSON;
    }
    values[i] = v;
    size += RECORD_HEADER + (k ? k.length : 0) + (v ? v.length : 0);
    if (r.timestamp > maxTs) maxTs = r.timestamp;
  }
  const base = records[0]!.offset;
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE(size, 0);
  buf.writeUInt8(VERSION, 8);
  buf.writeUInt8(0, 9);
  buf.writeUInt16LE(0, 10);
  buf.writeUInt32LE(n, 12);
  buf.writeDoubleLE(base, 16);
  buf.writeUInt32LE(records[n - 1]!.offset - base, 24);
  buf.writeUInt32LE(0, 28);
  buf.writeDoubleLE(records[0]!.timestamp, 32);
  buf.writeDoubleLE(maxTs, 40);
  let at = BATCH_HEADER;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const k = keys[i];
    const v = values[i];
    buf.writeUInt32LE(r.offset - base, at);
    buf.writeDoubleLE(r.timestamp, at + 4);
    buf.writeInt32LE(k ? k.length : -1, at + 12);
    at += 16;
    if (k) at += k.copy(buf, at);
    buf.writeUInt8(types[i]!, at);
    buf.writeUInt32LE(v ? v.length : 0, at + 1);
    at += 5;
    if (v) {
      buf.set(v, at);
      at += v.length;
    }
  }
  buf.writeUInt32LE(crc32c(buf.subarray(8)), 4);
  return buf;
}

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
 * `decodeValues: false` leaves values out (for compaction, which needs only keys and offsets).
 * Throws {@link CorruptDataError} when the CRC does not match.
 */
export function decodeBatch(buf: Buffer, at: number, h: BatchHeader, partition: number, fromOffset: number, max: number, out: LogRecord[], where: string, decodeValues = true): void {
  if (!batchIsValid(buf, at, h)) {
    throw new CorruptDataError(`batch at offset ${h.baseOffset} of ${where} fails its CRC check; its records are not served`);
  }
  decodeCheckedBatch(buf, at, h, partition, fromOffset, max, out, where, decodeValues);
}

/** {@link decodeBatch} for a batch whose CRC the caller has just checked with {@link batchIsValid}. */
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
