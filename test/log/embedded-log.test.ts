import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CorruptDataError, InvalidArgumentError, LogLockedError, UnknownTopicError } from '../../src/core/errors.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

describe('EmbeddedLog', () => {
  let tmp: ReturnType<typeof tempDir>;
  let log: EmbeddedLog;
  beforeEach(async () => {
    tmp = tempDir();
    log = await EmbeddedLog.open({ dir: tmp.dir });
  });
  afterEach(async () => {
    await log.close();
    tmp.remove();
  });

  test('appends a batch and reads it back in order with gapless offsets', async () => {
    await log.createTopic('t', { partitions: 1 });
    const positions = await log.append('t', [{ value: { n: 1 } }, { value: { n: 2 } }, { value: 'three', timestamp: 42 }]);
    assert.deepEqual(positions, [{ partition: 0, offset: 0 }, { partition: 0, offset: 1 }, { partition: 0, offset: 2 }]);
    const more = await log.append('t', [{ value: 4 }]);
    assert.deepEqual(more, [{ partition: 0, offset: 3 }]);
    const records = await log.read('t', 0, 0, 10);
    assert.deepEqual(records.map((r) => r.value), [{ n: 1 }, { n: 2 }, 'three', 4]);
    assert.deepEqual(records.map((r) => r.offset), [0, 1, 2, 3]);
    assert.equal(records[2]!.timestamp, 42);
    assert.deepEqual((await log.read('t', 0, 2, 1)).map((r) => r.value), ['three']);
    assert.deepEqual(await log.read('t', 0, 4, 10), []);
    assert.deepEqual(log.endOffsets('t'), [4]);
  });

  test('routes keys to partitions with the murmur2 partitioner and keeps per-key order', async () => {
    await log.createTopic('k', { partitions: 4 });
    const keys = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const records = Array.from({ length: 50 }, (_, i) => ({ key: keys[i % keys.length]!, value: i }));
    const positions = await log.append('k', records);
    positions.forEach((pos, i) => assert.equal(pos.partition, partitionForKey(records[i]!.key, 4)));
    for (const key of keys) {
      const p = partitionForKey(key, 4);
      const all = await log.read('k', p, 0, 1000);
      const mine = all.filter((r) => r.key === key).map((r) => r.value as number);
      assert.deepEqual(mine, [...mine].sort((a, b) => a - b));
      assert.equal(mine.length, 10);
    }
  });

  test('everything acknowledged before a clean close is there after reopening', async () => {
    await log.createTopic('durable', { partitions: 3 });
    const sent = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 17}`, value: { i, text: 'x'.repeat(i % 50) }, timestamp: 1000 + i }));
    const positions = await log.append('durable', sent);
    await log.close();
    log = await EmbeddedLog.open({ dir: tmp.dir });
    assert.deepEqual(log.describeTopic('durable')?.partitions, 3);
    for (let i = 0; i < sent.length; i++) {
      const [r] = await log.read('durable', positions[i]!.partition, positions[i]!.offset, 1);
      assert.deepEqual(r, { partition: positions[i]!.partition, offset: positions[i]!.offset, key: sent[i]!.key, timestamp: sent[i]!.timestamp, value: sent[i]!.value });
    }
    const next = await log.append('durable', [{ key: 'k0', value: 'after restart' }]);
    assert.equal(next[0]!.offset, log.endOffsets('durable')[next[0]!.partition]! - 1);
  });

  test('a torn record at the end of a partition file is cut off on open; the rest stays', async () => {
    await log.createTopic('torn', { partitions: 1 });
    await log.append('torn', [{ value: 'a' }]);
    await log.append('torn', [{ value: 'b' }]);
    await log.append('torn', [{ value: 'c' }]);
    await log.close();
    const file = path.join(tmp.dir, 'torn', '0', '00000000000000000000.log');
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 3);
    log = await EmbeddedLog.open({ dir: tmp.dir });
    assert.deepEqual((await log.read('torn', 0, 0, 10)).map((r) => r.value), ['a', 'b']);
    await log.append('torn', [{ value: 'd' }]);
    assert.deepEqual((await log.read('torn', 0, 0, 10)).map((r) => r.value), ['a', 'b', 'd']);
  });

  test('a flipped bit in the last record is detected by its CRC and the record is not served', async () => {
    await log.createTopic('flip', { partitions: 1 });
    await log.append('flip', [{ value: 'first' }]);
    await log.append('flip', [{ value: 'second' }]);
    await log.close();
    const file = path.join(tmp.dir, 'flip', '0', '00000000000000000000.log');
    const buf = fs.readFileSync(file);
    buf[buf.length - 4]! ^= 0x01;
    fs.writeFileSync(file, buf);
    log = await EmbeddedLog.open({ dir: tmp.dir });
    assert.deepEqual((await log.read('flip', 0, 0, 10)).map((r) => r.value), ['first']);
  });

  test('a record corrupted while the log is open fails the read with CorruptDataError', async () => {
    await log.createTopic('rot', { partitions: 1 });
    await log.append('rot', [{ value: 'aaaaaaaa' }, { value: 'bbbbbbbb' }]);
    const file = path.join(tmp.dir, 'rot', '0', '00000000000000000000.log');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('z'), 0, 1, 12);
    fs.closeSync(fd);
    await assert.rejects(log.read('rot', 0, 0, 10), CorruptDataError);
  });

  test('names what is wrong: unknown topic, bad partition, bad topic name', async () => {
    await assert.rejects(log.read('missing', 0, 0, 1), (e) => e instanceof UnknownTopicError && e.code === 'unknown_topic' && /missing/.test(e.message));
    await assert.rejects(log.append('missing', [{ value: 1 }]), UnknownTopicError);
    await log.createTopic('two', { partitions: 2 });
    await assert.rejects(log.read('two', 5, 0, 1), (e) => e instanceof InvalidArgumentError && /partitions 0-1/.test(e.message));
    await assert.rejects(log.append('two', [{ value: 1, partition: 2 }]), InvalidArgumentError);
    await assert.rejects(log.createTopic('../escape'), (e) => e instanceof InvalidArgumentError && e.code === 'invalid_topic_name');
    await assert.rejects(log.createTopic('two', { partitions: 3 }), /already exists with 2 partitions/);
  });

  test('waitForRecords wakes a reader when a record is appended, and on abort', async () => {
    await log.createTopic('tail', { partitions: 2 });
    let woke = false;
    const waiting = log.waitForRecords('tail', [0, 0]).then(() => { woke = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    await log.append('tail', [{ value: 1, partition: 1 }]);
    await waiting;
    assert.equal(woke, true);
    const ac = new AbortController();
    const aborted = log.waitForRecords('tail', log.endOffsets('tail'), ac.signal);
    ac.abort();
    await aborted;
  });

  test("group commit: concurrent appends to an fsync: 'always' topic share fsyncs", async () => {
    await log.createTopic('acks', { partitions: 1, fsync: 'always' });
    const before = log.stats().fsyncs;
    const positions = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append('acks', [{ value: i }])));
    assert.deepEqual(positions.map((p) => p[0]!.offset).sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i));
    // Appends made in one tick share one batch, one write and one fsync.
    assert.equal(log.stats().fsyncs - before, 1, `64 appends took ${log.stats().fsyncs - before} fsyncs`);
    // Appends that arrive while an fsync runs share the next one.
    const more = [log.append('acks', [{ value: 'a' }])];
    await new Promise((r) => setImmediate(r));
    more.push(...Array.from({ length: 20 }, () => log.append('acks', [{ value: 'b' }])));
    await Promise.all(more);
    assert.ok(log.stats().fsyncs - before <= 3, `21 more appends in two ticks took ${log.stats().fsyncs - before - 1} fsyncs`);
  });

  test('appends of one tick share a batch, yet a value that cannot be stored fails only its own append', async () => {
    await log.createTopic('shared', { partitions: 1 });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results = await Promise.allSettled([
      log.append('shared', [{ value: 'first' }, { value: 'second' }]),
      log.append('shared', [{ value: cyclic }]),
      log.append('shared', [{ value: 'third' }]),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /record 0: its value cannot be stored as JSON/);
    assert.deepEqual((results[0] as PromiseFulfilledResult<{ offset: number }[]>).value.map((p) => p.offset), [0, 1]);
    assert.deepEqual((results[2] as PromiseFulfilledResult<{ offset: number }[]>).value.map((p) => p.offset), [2]);
    assert.deepEqual((await log.read('shared', 0, 0, 10)).map((r) => r.value), ['first', 'second', 'third']);
  });

  test('fsync { intervalMs } keeps syncing under a producer whose awaited appends never yield', async () => {
    await log.createTopic('hot', { partitions: 1, fsync: { intervalMs: 5 } });
    const before = log.stats().fsyncs;
    const batch = Array.from({ length: 10 }, (_, i) => ({ value: i }));
    const started = Date.now();
    // Awaited appends that resolve at once: without care, timers and fsync completions would never run
    // during this loop, and it would spin until its deadline with at most one fsync.
    while (log.stats().fsyncs - before < 3 && Date.now() - started < 10_000) await log.append('hot', batch);
    assert.ok(log.stats().fsyncs - before >= 3, `fsyncs during the loop: ${log.stats().fsyncs - before}`);
  });

  test('fsync { intervalMs } syncs in the background; the append does not wait for it', async () => {
    await log.createTopic('interval', { partitions: 1, fsync: { intervalMs: 20 } });
    const before = log.stats().fsyncs;
    await log.append('interval', [{ value: 'a' }]);
    assert.equal(log.stats().fsyncs, before, 'acknowledged before any fsync');
    await waitFor('the interval fsync', () => log.stats().fsyncs > before);
  });

  test('segments roll by size and by age', async () => {
    await log.createTopic('rolling', { partitions: 1, segmentBytes: 2048, segmentMs: 60_000 });
    for (let i = 0; i < 40; i++) await log.append('rolling', [{ value: 'x'.repeat(100) }]);
    const bySize = log.stats().topics.find((t) => t.name === 'rolling')!.segments;
    assert.ok(bySize >= 3, `rolled by size into ${bySize} segments`);
    await log.createTopic('aging', { partitions: 1, segmentMs: 30 });
    await log.append('aging', [{ value: 1 }]);
    await new Promise((r) => setTimeout(r, 60));
    await log.append('aging', [{ value: 2 }]);
    assert.equal(log.stats().topics.find((t) => t.name === 'aging')!.segments, 2, 'rolled by age');
    assert.deepEqual((await log.read('aging', 0, 0, 10)).map((r) => r.value), [1, 2]);
  });

  test('compaction runs while appends and reads go on; no read ever sees a wrong record at an offset', async () => {
    await log.createTopic('prices', { partitions: 1, segmentBytes: 1024, cleanupPolicy: 'compact', deleteRetentionMs: 0 });
    const valueAt = new Map<number, unknown>();
    const latest = new Map<string, number>();
    const append = async (i: number) => {
      const key = `sku-${i % 25}`;
      const value = { i, price: (i * 7) % 100, pad: 'q'.repeat(30) };
      const [pos] = await log.append('prices', [{ key, value }]);
      valueAt.set(pos!.offset, value);
      latest.set(key, pos!.offset);
    };
    let i = 0;
    for (; i < 2000; i++) await append(i);
    let done = false;
    const compaction = log.runMaintenance().finally(() => (done = true));
    let appendsDuring = 0;
    let readsDuring = 0;
    while (!done) {
      await append(i++);
      appendsDuring++;
      const from = Math.floor(Math.random() * i);
      for (const r of await log.read('prices', 0, from, 50)) assert.deepEqual(r.value, valueAt.get(r.offset), `offset ${r.offset} read during compaction`);
      readsDuring++;
      await new Promise((r) => setImmediate(r));
    }
    const result = await compaction;
    assert.ok(result.compaction.recordsRemoved > 1000, `compaction removed ${result.compaction.recordsRemoved} records`);
    assert.ok(appendsDuring > 0 && readsDuring > 0, 'appends and reads went on during compaction');
    const after = await log.read('prices', 0, 0, 100_000);
    for (const r of after) assert.deepEqual(r.value, valueAt.get(r.offset));
    for (const [key, offset] of latest) assert.ok(after.some((r) => r.offset === offset && r.key === key), `the latest record of ${key} stays`);
  });

  test('one directory, one log: a second open is refused, in this process too; after close it opens again', async () => {
    await assert.rejects(EmbeddedLog.open({ dir: tmp.dir }), (e) => e instanceof LogLockedError && e.code === 'log_locked' && e.pid === process.pid);
    await log.createTopic('still-mine', { partitions: 1 });
    await log.close();
    log = await EmbeddedLog.open({ dir: tmp.dir });
    assert.ok(log.describeTopic('still-mine'));
  });

  test('a topic switched to compaction keeps the records it holds without a key', async () => {
    await log.createTopic('mixed', { partitions: 1, segmentBytes: 1024 });
    for (let i = 0; i < 40; i++) await log.append('mixed', [{ value: { i, pad: 'k'.repeat(40) } }]);
    await log.updateTopicConfig('mixed', { cleanupPolicy: 'compact', deleteRetentionMs: 0 });
    for (let i = 0; i < 40; i++) await log.append('mixed', [{ key: `k${i % 3}`, value: { i, pad: 'k'.repeat(40) } }]);
    await log.runMaintenance();
    const all = await log.read('mixed', 0, 0, 1000);
    assert.deepEqual(all.filter((r) => r.key === null).map((r) => (r.value as { i: number }).i), Array.from({ length: 40 }, (_, i) => i));
    assert.ok(all.filter((r) => r.key !== null).length < 40, 'superseded keyed records were removed');
  });

  test("one partition's failed maintenance does not stop the others' retention", async () => {
    await log.createTopic('broken', { partitions: 1, segmentBytes: 1024, cleanupPolicy: 'compact' });
    await log.createTopic('sized', { partitions: 1, segmentBytes: 1024, retentionBytes: 2048 });
    for (let i = 0; i < 60; i++) {
      await log.append('broken', [{ key: `k${i % 4}`, value: 'b'.repeat(60) }]);
      await log.append('sized', [{ value: 's'.repeat(60) }]);
    }
    // Damage a sealed segment of 'broken' behind the log's back: compaction meets it.
    const file = path.join(tmp.dir, 'broken', '0', '00000000000000000000.log');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('rot'), 0, 3, 60);
    fs.closeSync(fd);
    const result = await log.runMaintenance();
    assert.deepEqual(result.failures.map((f) => [f.topic, f.partition, (f.error as Error).name]), [['broken', 0, 'CorruptDataError']]);
    assert.ok(result.segmentsDeleted > 0 && log.startOffsets('sized')[0]! > 0, 'retention of the other topic went on');
    const again = await log.runMaintenance();
    assert.deepEqual(again.failures, [], 'the damaged partition is left alone afterwards');
  });

  test('deleting a topic leaves nothing a new topic of that name could find, even when cut short', async () => {
    await log.createTopic('orders', { partitions: 1 });
    await log.append('orders', [{ value: 'old-1' }, { value: 'old-2' }]);
    await log.deleteTopic('orders');
    await log.createTopic('orders', { partitions: 1 });
    assert.deepEqual(await log.read('orders', 0, 0, 10), []);
    await log.close();
    // What a crash in the middle of a deletion leaves: a renamed directory, and a directory without topic.json.
    fs.mkdirSync(path.join(tmp.dir, '.deleted-gone-1', '0'), { recursive: true });
    fs.writeFileSync(path.join(tmp.dir, '.deleted-gone-1', '0', '00000000000000000000.log'), 'x');
    fs.cpSync(path.join(tmp.dir, 'orders', '0'), path.join(tmp.dir, 'orphan', '0'), { recursive: true });
    log = await EmbeddedLog.open({ dir: tmp.dir });
    assert.equal(fs.existsSync(path.join(tmp.dir, '.deleted-gone-1')), false, 'an interrupted deletion is finished on open');
    assert.equal(log.describeTopic('orphan'), undefined);
    await log.createTopic('orphan', { partitions: 1 });
    assert.deepEqual(log.endOffsets('orphan'), [0], 'a new topic starts empty');
  });

  test('segmentBytes is capped where index positions still fit', async () => {
    await assert.rejects(log.createTopic('huge', { segmentBytes: 2 ** 32 }), (e) => e instanceof InvalidArgumentError && /segmentBytes must be an integer from 1024 to 2147483647/.test(e.message));
  });
});
