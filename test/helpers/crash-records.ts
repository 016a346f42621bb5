import type { AppendRecord, LogRecord } from '../../src/core/record.js';

/** Shared by test/log/crash.test.ts and its child process test/fixtures/crash-appender.ts. */
export const CRASH_TOPIC = 'crash';
export const CRASH_PARTITIONS = 2;
/** Small segments, so that they roll many times during the test. */
export const CRASH_SEGMENT_BYTES = 64 * 1024;

export { prng } from './prng.js';

/**
 * The record with sequence number `seq`, always the same: a JSON value (variable size, some non-ASCII
 * text), raw bytes or a null value; some with a key; timestamps not monotonic. The sequence number
 * can be read back from the record with {@link seqOf}.
 */
export function recordFor(seq: number): AppendRecord & { key: string | null; timestamp: number } {
  const timestamp = 1_700_000_000_000 + seq * 10 - (seq % 5) * 17;
  const kind = seq % 6;
  if (kind === 1) return { key: `tomb-${seq}`, value: null, timestamp };
  const key = seq % 3 === 0 ? `key-${seq % 11}` : null;
  if (kind === 0) {
    const bytes = Buffer.alloc(8 + ((seq * 37) % 900));
    bytes.writeDoubleLE(seq, 0);
    for (let i = 8; i < bytes.length; i++) bytes[i] = (seq + i * 31) & 0xff;
    return { key, value: bytes, timestamp };
  }
  const size = (seq * 7919) % 2500;
  const text = (seq % 4 === 0 ? 'é€' : 'x').repeat(Math.ceil(size / 2)).slice(0, size);
  return { key, value: { seq, text, nums: [seq, -seq, seq / 3], nested: { ok: seq % 2 === 0, tag: `t${seq % 13}` } }, timestamp };
}

/** Where the parent puts a record of a child: `seq partition offset` per acknowledged record, one per line. */
export function ackLine(seq: number, partition: number, offset: number): string {
  return `${seq} ${partition} ${offset}\n`;
}

/** The sequence number of a stored record, or throws when the record is not one that {@link recordFor} makes. */
export function seqOf(r: LogRecord): number {
  if (r.value instanceof Uint8Array) {
    if (r.value.length < 8) throw new Error(`record at ${r.partition}/${r.offset}: raw value of ${r.value.length} bytes is too short`);
    return Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength).readDoubleLE(0);
  }
  if (r.value === null) {
    const m = /^tomb-(\d+)$/.exec(r.key ?? '');
    if (!m) throw new Error(`record at ${r.partition}/${r.offset}: null value with key ${String(r.key)}`);
    return Number(m[1]);
  }
  const seq = (r.value as { seq?: unknown }).seq;
  if (typeof seq !== 'number') throw new Error(`record at ${r.partition}/${r.offset}: value without seq: ${JSON.stringify(r.value).slice(0, 200)}`);
  return seq;
}
