import { InvalidArgumentError, CorruptDataError } from '../core/errors.js';
import type { LogRecord } from '../core/record.js';

/**
 * One record as a self-contained message, for log backends that store each record on its own (a
 * JetStream message, a Redis stream entry). The embedded log frames whole batches instead.
 *
 * | at | size | field |
 * |---|---|---|
 * | 0 | 1 | format version (1) |
 * | 1 | 1 | value type: 0 JSON, 1 raw bytes, 2 null |
 * | 2 | 8 | timestamp (float64 ms, little-endian) |
 * | 10 | 4 | key length in bytes, −1 for no key (int32 little-endian) |
 * | 14 | … | key (UTF-8), then the value |
 */
const VERSION = 1;
const HEADER = 14;
const VALUE_JSON = 0;
const VALUE_BYTES = 1;
const VALUE_NULL = 2;

/** A record's value cannot be stored: `index` is its place in the records of the append. */
export class UnencodableValueError extends InvalidArgumentError {
  override name = 'UnencodableValueError';
  constructor(readonly index: number, readonly reason: string, options?: { cause?: unknown }) {
    super(`record ${index}: its value cannot be stored as JSON: ${reason}`, 'invalid_value', options);
  }
}

/** A value's JSON text, or an {@link UnencodableValueError} naming record `index`. Every backend stores values so. */
export function stringifyValue(value: unknown, index: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new UnencodableValueError(index, (cause as Error).message, { cause });
  }
  if (text === undefined) throw new UnencodableValueError(index, `a ${typeof value} has no JSON form`);
  return text;
}

/** Encodes one record; `index` names it in the error when its value has no JSON form. */
export function encodeRecord(key: string | null, timestamp: number, value: unknown, index: number): Buffer {
  let type = VALUE_NULL;
  let body: Uint8Array | string | undefined;
  if (value instanceof Uint8Array) {
    type = VALUE_BYTES;
    body = value;
  } else if (value !== null && value !== undefined) {
    type = VALUE_JSON;
    body = stringifyValue(value, index);
  }
  const keyBytes = key === null ? 0 : Buffer.byteLength(key);
  const bodyBytes = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const buf = Buffer.allocUnsafe(HEADER + keyBytes + bodyBytes);
  buf[0] = VERSION;
  buf[1] = type;
  buf.writeDoubleLE(timestamp, 2);
  buf.writeInt32LE(key === null ? -1 : keyBytes, 10);
  if (key !== null) buf.write(key, HEADER, 'utf8');
  if (typeof body === 'string') buf.write(body, HEADER + keyBytes, 'utf8');
  else if (body !== undefined) buf.set(body, HEADER + keyBytes);
  return buf;
}

/** Decodes a record that {@link encodeRecord} made; `where` names it in the error when it is not one. */
export function decodeRecord(data: Uint8Array, partition: number, offset: number, where: string): LogRecord {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const corrupt = (why: string) => new CorruptDataError(`${where}: record at offset ${offset} ${why}`);
  if (buf.length < HEADER || buf[0] !== VERSION) throw corrupt('is not a Rivulet record (written by another program?)');
  const keyLength = buf.readInt32LE(10);
  if (keyLength < -1 || HEADER + Math.max(keyLength, 0) > buf.length) throw corrupt('has a key longer than the record');
  const key = keyLength < 0 ? null : buf.toString('utf8', HEADER, HEADER + keyLength);
  const at = HEADER + Math.max(keyLength, 0);
  let value: unknown;
  switch (buf[1]) {
    case VALUE_JSON:
      try {
        value = JSON.parse(buf.toString('utf8', at));
      } catch {
        throw corrupt('holds a value that is not JSON');
      }
      break;
    case VALUE_BYTES:
      value = new Uint8Array(buf.subarray(at));
      break;
    case VALUE_NULL:
      value = null;
      break;
    default:
      throw corrupt(`has an unknown value type ${buf[1]}`);
  }
  return { partition, offset, key, timestamp: buf.readDoubleLE(2), value };
}
