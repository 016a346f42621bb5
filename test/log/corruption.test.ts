/**
 * Damaged segment files: torn tails, flipped bits in the tail, in the middle of the active segment and
 * in sealed segments, damaged tails of sealed segments, lost or garbage indexes. Whatever the damage,
 * opening recovers, every intact batch stays readable, and a damaged record is never served.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CorruptDataError } from '../../src/core/errors.js';
import type { LogRecord } from '../../src/core/record.js';
import { readHeader } from '../../src/log/embedded/batch-format.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { prng } from '../helpers/crash-records.js';
import { tempDir } from '../helpers/tmp.js';

const TOPIC = 't';

/** The value of record `i`: its own index, and padding that varies in size. */
const valueOf = (i: number) => ({ i, pad: 'p'.repeat((i * 13) % 70) });

/** Where the batches of a segment file start and end. */
function batchesOf(file: string): { at: number; length: number; baseOffset: number; lastOffset: number }[] {
  const buf = fs.readFileSync(file);
  const out = [];
  for (let at = 0; at < buf.length;) {
    const h = readHeader(buf, at)!;
    out.push({ at, length: h.length, baseOffset: h.baseOffset, lastOffset: h.lastOffset });
    at += h.length;
  }
  return out;
}

function segmentFiles(dir: string): string[] {
  const pdir = path.join(dir, TOPIC, '0');
  return fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).sort().map((f) => path.join(pdir, f));
}

function flipBit(file: string, byte: number, bit: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, byte);
    b[0]! ^= 1 << bit;
    fs.writeSync(fd, b, 0, 1, byte);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the whole partition as a consumer that accepts losses would: on a CorruptDataError it notes
 * the range and resumes where the error says.
 */
async function readThrough(log: EmbeddedLog): Promise<{ records: LogRecord[]; skipped: { offset: number; resumeOffset: number }[] }> {
  const records: LogRecord[] = [];
  const skipped: { offset: number; resumeOffset: number }[] = [];
  let next = 0;
  for (;;) {
    let batch: LogRecord[];
    try {
      batch = await log.read(TOPIC, 0, next, 7);
    } catch (err) {
      assert.ok(err instanceof CorruptDataError, `unexpected ${String(err)}`);
      assert.equal(err.code, 'corrupt_data');
      assert.ok(err.range && err.range.resumeOffset > err.range.offset, `a corrupt read says where to resume: ${err.message}`);
      skipped.push(err.range);
      next = err.range.resumeOffset;
      continue;
    }
    if (batch.length === 0) return { records, skipped };
    records.push(...batch);
    next = batch.at(-1)!.offset + 1;
  }
}

/** Every record served is exactly what was appended at its offset. */
function assertIntact(records: LogRecord[]): void {
  for (const r of records) assert.deepEqual(r.value, valueOf(r.offset), `record at offset ${r.offset} was served altered`);
  assert.ok(records.every((r, k) => k === 0 || r.offset > records[k - 1]!.offset), 'offsets ascend');
}

describe('EmbeddedLog with damaged files', () => {
  let tmp: ReturnType<typeof tempDir>;
  let log: EmbeddedLog | undefined;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await log?.close();
    log = undefined;
    tmp.remove();
  });

  const open = async () => (log = await EmbeddedLog.open({ dir: tmp.dir, maintenanceIntervalMs: 0 }));
  /** Appends `n` records in batches of 3, on segments of `segmentBytes`, and closes the log. */
  async function write(n: number, segmentBytes = 64 * 1024): Promise<void> {
    const l = await open();
    await l.createTopic(TOPIC, { partitions: 1, segmentBytes });
    for (let i = 0; i < n; i += 3) {
      await l.append(TOPIC, Array.from({ length: Math.min(3, n - i) }, (_, k) => ({ value: valueOf(i + k), timestamp: 1000 + i + k })));
    }
    await l.close();
    log = undefined;
  }

  test('a torn tail, cut at any point of the last batch, is cut off; the batches before it stay', async () => {
    await write(30);
    const [file] = segmentFiles(tmp.dir);
    const batches = batchesOf(file!);
    const last = batches.at(-1)!;
    const pristine = fs.readFileSync(file!);
    for (const keep of [1, 4, 8, 30, 47, 48, 60, last.length - 1]) {
      fs.writeFileSync(file!, pristine.subarray(0, last.at + keep));
      const l = await open();
      assert.equal(l.stats().recoveredTruncatedBytes, keep, `cut at ${keep}: the torn bytes are counted`);
      const { records, skipped } = await readThrough(l);
      assert.deepEqual(skipped, []);
      assert.deepEqual(records.map((r) => r.offset), Array.from({ length: last.baseOffset }, (_, i) => i), `cut at ${keep}`);
      assertIntact(records);
      const [pos] = await l.append(TOPIC, [{ value: valueOf(last.baseOffset) }]);
      assert.equal(pos!.offset, last.baseOffset, 'appends go on right after the intact batches');
      await l.close();
      log = undefined;
    }
  });

  test('a flipped bit anywhere in the last batch drops that batch only', async () => {
    await write(30);
    const [file] = segmentFiles(tmp.dir);
    const last = batchesOf(file!).at(-1)!;
    const pristine = fs.readFileSync(file!);
    const rand = prng(7);
    // The CRC field, the header fields it covers, and the records; each in a fresh copy of the file.
    const spots = [4, 8, 12, 16, 24, 32, 40, 48, 52, 60, last.length - 1, ...Array.from({ length: 6 }, () => 4 + Math.floor(rand() * (last.length - 4)))];
    for (const spot of spots) {
      fs.writeFileSync(file!, pristine);
      flipBit(file!, last.at + spot, Math.floor(rand() * 8));
      const l = await open();
      const { records, skipped } = await readThrough(l);
      assert.deepEqual(skipped, [], `flip at ${spot}`);
      assert.deepEqual(records.map((r) => r.offset), Array.from({ length: last.baseOffset }, (_, i) => i), `flip at ${spot}`);
      assertIntact(records);
      assert.equal(l.endOffsets(TOPIC)[0], last.baseOffset);
      await l.close();
      log = undefined;
    }
  });

  test('a flipped bit in the middle of the active segment: the batches after it stay, the bad one is never served', async () => {
    await write(60);
    const [file] = segmentFiles(tmp.dir);
    const victim = batchesOf(file!)[8]!;
    flipBit(file!, victim.at + 60, 3);
    const l = await open();
    assert.equal(l.stats().damagedBatches, 1);
    assert.equal(l.stats().recoveredTruncatedBytes, 0, 'nothing after the damaged batch is cut off');
    assert.equal(l.endOffsets(TOPIC)[0], 60);
    // A read that starts before the damage returns the intact records before it, then the next read fails.
    const before = await l.read(TOPIC, 0, victim.baseOffset - 2, 100);
    assert.deepEqual(before.map((r) => r.offset), [victim.baseOffset - 2, victim.baseOffset - 1]);
    await assert.rejects(l.read(TOPIC, 0, victim.baseOffset, 100), (e) =>
      e instanceof CorruptDataError && e.range?.offset === victim.baseOffset && e.range.resumeOffset === victim.lastOffset + 1 && /fails its CRC check/.test(e.message));
    const { records, skipped } = await readThrough(l);
    assert.deepEqual(skipped, [{ offset: victim.baseOffset, resumeOffset: victim.lastOffset + 1 }]);
    assert.deepEqual(records.map((r) => r.offset), Array.from({ length: 60 }, (_, i) => i).filter((i) => i < victim.baseOffset || i > victim.lastOffset));
    assertIntact(records);
    assert.ok(l.stats().corruptReads >= 2, 'corrupt reads are counted');
    // A reader that starts past the damage never meets it.
    assert.equal((await l.read(TOPIC, 0, victim.lastOffset + 1, 1))[0]!.offset, victim.lastOffset + 1);
    const [pos] = await l.append(TOPIC, [{ value: valueOf(60) }]);
    assert.equal(pos!.offset, 60);
  });

  test('a batch of a sealed segment that rots while the log is open is refused at read time; the rest reads on', async () => {
    await write(90, 1024);
    const files = segmentFiles(tmp.dir);
    assert.ok(files.length >= 4, `segments rolled (${files.length})`);
    const l = await open();
    const victim = batchesOf(files[1]!)[1]!;
    flipBit(files[1]!, victim.at + 50, 0);
    const { records, skipped } = await readThrough(l);
    assert.deepEqual(skipped, [{ offset: victim.baseOffset, resumeOffset: victim.lastOffset + 1 }]);
    assert.deepEqual(records.map((r) => r.offset), Array.from({ length: 90 }, (_, i) => i).filter((i) => i < victim.baseOffset || i > victim.lastOffset));
    assertIntact(records);
  });

  test('a damaged tail of a sealed segment is kept out of reads, and the segments after it read on', async () => {
    await write(90, 1024);
    const files = segmentFiles(tmp.dir);
    const batches = batchesOf(files[1]!);
    const last = batches.at(-1)!;
    fs.truncateSync(files[1]!, last.at + 20);
    const nextBase = Number(path.basename(files[2]!, '.log'));
    const l = await open();
    assert.equal(l.endOffsets(TOPIC)[0], 90);
    const { records, skipped } = await readThrough(l);
    assert.deepEqual(skipped, [{ offset: last.baseOffset, resumeOffset: nextBase }]);
    assert.deepEqual(records.map((r) => r.offset), Array.from({ length: 90 }, (_, i) => i).filter((i) => i < last.baseOffset || i >= nextBase));
    assertIntact(records);
  });

  test('missing or garbage indexes are rebuilt: reads by offset and by time give the same answers', async () => {
    await write(120, 1024);
    const reference = await (async () => {
      const l = await open();
      const out = { all: await readThrough(l), byTime: [] as number[], byOffset: [] as number[] };
      for (let i = 0; i < 120; i += 7) {
        out.byTime.push(await l.offsetForTimestamp(TOPIC, 0, 1000 + i));
        out.byOffset.push((await l.read(TOPIC, 0, i, 1))[0]!.offset);
      }
      await l.close();
      return out;
    })();
    const pdir = path.join(tmp.dir, TOPIC, '0');
    const indexes = fs.readdirSync(pdir).filter((f) => f.endsWith('index'));
    indexes.forEach((f, k) => {
      if (k % 3 === 0) fs.rmSync(path.join(pdir, f));
      else if (k % 3 === 1) fs.writeFileSync(path.join(pdir, f), Buffer.from('not an index at all'));
      else fs.writeFileSync(path.join(pdir, f), Buffer.alloc(24, 0xff));
    });
    const l = await open();
    const again = { all: await readThrough(l), byTime: [] as number[], byOffset: [] as number[] };
    for (let i = 0; i < 120; i += 7) {
      again.byTime.push(await l.offsetForTimestamp(TOPIC, 0, 1000 + i));
      again.byOffset.push((await l.read(TOPIC, 0, i, 1))[0]!.offset);
    }
    assert.deepEqual(again, reference);
    assert.deepEqual(reference.byTime, Array.from({ length: 18 }, (_, k) => k * 7));
    assert.ok(indexes.every((f) => fs.statSync(path.join(pdir, f)).size > 0), 'indexes were written again');
  });

  test('a zeroed batch header in a sealed segment: time lookups fail clearly instead of spinning, reads resume at the next index entry', { timeout: 20_000 }, async () => {
    await write(300, 16 * 1024);
    const files = segmentFiles(tmp.dir);
    const victim = batchesOf(files[0]!)[20]!;
    // Zero the header (length included): its length can no longer be trusted.
    const fd = fs.openSync(files[0]!, 'r+');
    fs.writeSync(fd, Buffer.alloc(48), 0, 48, victim.at);
    fs.closeSync(fd);
    const l = await open();
    await assert.rejects(l.offsetForTimestamp(TOPIC, 0, 1000 + victim.baseOffset + 1), CorruptDataError);
    const { records, skipped } = await readThrough(l);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.offset, victim.baseOffset);
    const lost = skipped[0]!.resumeOffset - skipped[0]!.offset;
    // The next offset-index entry is at most 4 KiB of batches further: a few dozen records, not the segment's rest.
    assert.ok(lost >= victim.lastOffset - victim.baseOffset + 1 && lost <= 60, `records skipped: ${lost}`);
    assert.equal(records.length, 300 - lost);
    assertIntact(records);
  });
});
