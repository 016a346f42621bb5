/**
 * The conformance suite of the `Log` interface: every backend (embedded, NATS JetStream, Redis
 * Streams, Kafka) runs these same tests against a real server. A backend that cannot give a
 * guarantee declares it in `capabilities` and must then refuse the feature with a clear error.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OffsetConflictError, RivuletError, UnknownTopicError } from '../../src/core/errors.js';
import type { Log } from '../../src/log/log.js';
import { resolveStart } from '../../src/log/log.js';
import { partitionForKey } from '../../src/log/partitioner.js';

/** A backend under test: a way to open (and reopen) one store, and to clean it up. */
export interface LogUnderTest {
  /** Opens the store; called again after `close()` it must find everything acknowledged before. */
  open(): Promise<Log>;
  /** Runs retention and compaction now (backends that do it on the server may wait for it). */
  maintenance(log: Log): Promise<void>;
  capabilities: { compaction: boolean; retentionBySize: boolean; retentionByTime: boolean };
  cleanup(): Promise<void>;
}

/** Reads a whole partition from `from`. */
async function readAll(log: Log, topic: string, partition: number, from = 0) {
  const out = [];
  let offset = from;
  for (;;) {
    const batch = await log.read(topic, partition, offset, 100);
    if (batch.length === 0) return out;
    out.push(...batch);
    offset = batch.at(-1)!.offset + 1;
  }
}

export function logConformance(backend: string, make: () => Promise<LogUnderTest>): void {
  describe(`Log conformance: ${backend}`, () => {
    let under: LogUnderTest;
    let log: Log;
    beforeEach(async () => {
      under = await make();
      log = await under.open();
    });
    afterEach(async () => {
      await log.close();
      await under.cleanup();
    });
    const reopen = async () => {
      await log.close();
      log = await under.open();
    };

    test('append returns positions in order; read returns records with their offsets, keys, timestamps and values', async () => {
      await log.createTopic('orders', { partitions: 1 });
      const pos = await log.append('orders', [
        { key: 'a', value: { n: 1 }, timestamp: 1000 },
        { key: null, value: [1, 'two', { three: 3 }], timestamp: 1001 },
        { value: 'text', timestamp: 1002 },
        { key: 'bin', value: new Uint8Array([0, 1, 2, 255]), timestamp: 1003 },
        { key: 'gone', value: null, timestamp: 1004 },
      ]);
      assert.deepEqual(pos.map((p) => p.offset), [0, 1, 2, 3, 4]);
      const records = await log.read('orders', 0, 0, 10);
      assert.deepEqual(records.map((r) => [r.offset, r.key, r.timestamp]), [[0, 'a', 1000], [1, null, 1001], [2, null, 1002], [3, 'bin', 1003], [4, 'gone', 1004]]);
      assert.deepEqual(records[0]!.value, { n: 1 });
      assert.deepEqual(records[1]!.value, [1, 'two', { three: 3 }]);
      assert.equal(records[2]!.value, 'text');
      assert.deepEqual([...(records[3]!.value as Uint8Array)], [0, 1, 2, 255]);
      assert.equal(records[4]!.value, null);
      assert.deepEqual((await log.read('orders', 0, 3, 1)).map((r) => r.offset), [3]);
      assert.deepEqual(await log.read('orders', 0, 5, 10), []);
      assert.deepEqual(log.endOffsets('orders'), [5]);
    });

    test('keys pick partitions as Kafka does and keep their order', async () => {
      await log.createTopic('keyed', { partitions: 3 });
      const records = Array.from({ length: 60 }, (_, i) => ({ key: `user-${i % 7}`, value: i }));
      const pos = await log.append('keyed', records);
      pos.forEach((p, i) => assert.equal(p.partition, partitionForKey(records[i]!.key, 3)));
      for (let p = 0; p < 3; p++) {
        const all = await readAll(log, 'keyed', p);
        for (let k = 0; k < 7; k++) {
          const seq = all.filter((r) => r.key === `user-${k}`).map((r) => r.value as number);
          assert.deepEqual(seq, [...seq].sort((a, b) => a - b));
        }
      }
    });

    test('a reader waiting at the end is woken by an append', async () => {
      await log.createTopic('tail', { partitions: 2 });
      const waiting = log.waitForRecords('tail', log.endOffsets('tail'));
      let woke = false;
      void waiting.then(() => (woke = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(woke, false);
      await log.append('tail', [{ value: 'x', partition: 1 }]);
      await waiting;
      assert.equal(woke, true);
    });

    test('everything acknowledged is there after reopening, and appends continue the offsets', async () => {
      await log.createTopic('durable', { partitions: 2, fsync: 'always', segmentBytes: 4096 });
      const sent = Array.from({ length: 400 }, (_, i) => ({ key: `k${i % 5}`, value: { i, pad: 'y'.repeat(i % 90) }, timestamp: 10_000 + i }));
      for (let i = 0; i < sent.length; i += 37) await log.append('durable', sent.slice(i, i + 37));
      const before = [await readAll(log, 'durable', 0), await readAll(log, 'durable', 1)];
      await reopen();
      assert.deepEqual([await readAll(log, 'durable', 0), await readAll(log, 'durable', 1)], before);
      assert.equal(log.describeTopic('durable')?.config.fsync, 'always');
      const [next] = await log.append('durable', [{ key: 'k0', value: 'after' }]);
      assert.equal(next!.offset, before[next!.partition]!.length);
    });

    test('replay: a topic read again from the start gives the same records', async () => {
      await log.createTopic('replay', { partitions: 1, segmentBytes: 2048 });
      for (let i = 0; i < 20; i++) await log.append('replay', Array.from({ length: 10 }, (_, j) => ({ value: i * 10 + j })));
      const first = await readAll(log, 'replay', 0);
      const second = await readAll(log, 'replay', 0);
      assert.equal(first.length, 200);
      assert.deepEqual(second, first);
      assert.deepEqual(first.map((r) => r.value), Array.from({ length: 200 }, (_, i) => i));
    });

    test('start positions: earliest, latest, an offset, a timestamp (first record at or after it)', async () => {
      await log.createTopic('times', { partitions: 1, segmentBytes: 1024 });
      for (let i = 0; i < 100; i++) await log.append('times', [{ value: i, timestamp: 1_000_000 + i * 1000 }]);
      assert.deepEqual(await resolveStart(log, 'times', 'earliest'), [0]);
      assert.deepEqual(await resolveStart(log, 'times', 'latest'), [100]);
      assert.deepEqual(await resolveStart(log, 'times', { offset: 42 }), [42]);
      assert.deepEqual(await resolveStart(log, 'times', { timestamp: 1_000_000 + 42_000 }), [42]);
      assert.deepEqual(await resolveStart(log, 'times', { timestamp: 1_000_000 + 42_500 }), [43]);
      assert.deepEqual(await resolveStart(log, 'times', { timestamp: 0 }), [0]);
      assert.deepEqual(await resolveStart(log, 'times', { timestamp: 9e12 }), [100]);
    });

    test('consumer groups: committed offsets are stored durably, per group and topic', async () => {
      await log.createTopic('g', { partitions: 3 });
      assert.deepEqual(await log.committedOffsets('readers', 'g'), [null, null, null]);
      await log.commitOffsets('readers', 'g', [5, undefined, 7]);
      await log.commitOffsets('readers', 'g', [undefined, 2]);
      await log.commitOffsets('others', 'g', [1, 1, 1]);
      await reopen();
      assert.deepEqual(await log.committedOffsets('readers', 'g'), [5, 2, 7]);
      assert.deepEqual(await log.committedOffsets('others', 'g'), [1, 1, 1]);
      await log.append('g', Array.from({ length: 30 }, (_, i) => ({ value: i, partition: i % 3 })));
      await log.commitOffsets('half', 'g', [4]);
      assert.deepEqual(await resolveStart(log, 'g', { group: 'readers' }), [5, 2, 7], 'a group resumes at its committed offsets');
      assert.deepEqual(await resolveStart(log, 'g', { group: 'half' }), [4, 0, 0], 'partitions never committed start at the oldest record');
      assert.deepEqual(await resolveStart(log, 'g', { group: 'half', fallback: 'latest' }), [4, 10, 10]);
      assert.deepEqual(await resolveStart(log, 'g', { group: 'nobody' }), [0, 0, 0]);
      await assert.rejects(log.commitOffsets('readers', 'g', [-1]), (e) => e instanceof RivuletError && /non-negative/.test(e.message));
    });

    test('retention by size deletes whole old segments; readers below the start continue from it', async (t) => {
      if (!under.capabilities.retentionBySize) {
        t.diagnostic(`${backend} has no size retention`);
        await assert.rejects(log.createTopic('sized', { retentionBytes: 8192 }), (e) => e instanceof RivuletError && e.code === 'unsupported' && /retentionBytes/.test(e.message));
        return;
      }
      await log.createTopic('sized', { partitions: 1, segmentBytes: 2048, retentionBytes: 8192 });
      for (let i = 0; i < 200; i++) await log.append('sized', [{ value: { i, pad: 'z'.repeat(100) } }]);
      await under.maintenance(log);
      const start = log.startOffsets('sized')[0]!;
      assert.ok(start > 0, 'old segments were deleted');
      const rest = await readAll(log, 'sized', 0, 0);
      assert.equal(rest[0]!.offset, start);
      assert.deepEqual(rest.map((r) => (r.value as { i: number }).i), Array.from({ length: 200 - start }, (_, k) => start + k));
      assert.equal(log.endOffsets('sized')[0], 200);
    });

    test('retention by time deletes segments whose newest record is older than retentionMs', async (t) => {
      if (!under.capabilities.retentionByTime) {
        t.diagnostic(`${backend} has no time retention`);
        await assert.rejects(log.createTopic('aged', { retentionMs: 60_000 }), (e) => e instanceof RivuletError && e.code === 'unsupported' && /retentionMs/.test(e.message));
        return;
      }
      await log.createTopic('aged', { partitions: 1, segmentBytes: 1024, retentionMs: 60_000 });
      const old = Date.now() - 3_600_000;
      for (let i = 0; i < 50; i++) await log.append('aged', [{ value: { i, pad: 'o'.repeat(60) }, timestamp: old + i }]);
      for (let i = 50; i < 60; i++) await log.append('aged', [{ value: { i }, timestamp: Date.now() }]);
      await under.maintenance(log);
      const rest = await readAll(log, 'aged', 0);
      assert.ok(rest.length < 60 && rest.length >= 10, `kept ${rest.length}`);
      assert.ok(rest.every((r, k) => k === 0 || r.offset === rest[k - 1]!.offset + 1));
      assert.ok(rest.some((r) => (r.value as { i: number }).i === 59));
    });

    test('compaction keeps the latest record per key and removes tombstoned keys; offsets stay', async () => {
      if (!under.capabilities.compaction) {
        await assert.rejects(log.createTopic('c', { cleanupPolicy: 'compact' }), (e) => e instanceof RivuletError && e.code === 'unsupported' && /compact/.test(e.message));
        assert.equal(log.describeTopic('c'), undefined, 'a refused topic is not created');
        return;
      }
      await log.createTopic('c', { partitions: 1, segmentBytes: 1024, cleanupPolicy: 'compact', deleteRetentionMs: 0 });
      const latest = new Map<string, { offset: number; value: unknown }>();
      for (let i = 0; i < 300; i++) {
        const key = `k${i % 10}`;
        const value = i >= 280 && key === 'k3' ? null : { i, pad: 'c'.repeat(40) };
        const [pos] = await log.append('c', [{ key, value, timestamp: 1 }]);
        latest.set(key, { offset: pos!.offset, value });
      }
      await assert.rejects(log.append('c', [{ value: 'no key' }]), (e) => e instanceof RivuletError && e.code === 'key_required');
      const before = await readAll(log, 'c', 0);
      await under.maintenance(log);
      const after = await readAll(log, 'c', 0);
      // A backend may compact as records arrive (JetStream keeps one message per key subject) or later.
      assert.ok(after.length < 300 && after.length <= before.length, 'compaction removed superseded records');
      // Every key's latest record is still there, at its offset; only the active segment may hold older versions.
      for (const [key, { offset, value }] of latest) {
        const found = after.find((r) => r.offset === offset);
        if (value === null) continue;
        assert.deepEqual(found && { key: found.key, value: found.value }, { key, value }, key);
      }
      const survivors = new Set(after.map((r) => r.offset));
      for (const r of before) {
        // A removed record was superseded, or was a tombstone past deleteRetentionMs (0 here).
        if (!survivors.has(r.offset) && r.value !== null) assert.notEqual(latest.get(r.key!)!.offset, r.offset, 'a latest record was removed');
      }
      assert.deepEqual(after.filter((r) => r.key === 'k3' && r.value !== null), [], 'the tombstoned key has no value left');
      assert.ok(after.every((r, k) => k === 0 || r.offset > after[k - 1]!.offset));
      await reopen();
      assert.deepEqual(await readAll(log, 'c', 0), after);
    });

    test('concurrent appenders: offsets are gapless and unique, each appender keeps its order', async () => {
      await log.createTopic('busy', { partitions: 2 });
      const appenders = Array.from({ length: 8 }, async (_, a) => {
        const mine = [];
        for (let i = 0; i < 25; i++) mine.push(...(await log.append('busy', [{ key: `a${a}`, value: { a, i } }, { key: `a${a}`, value: { a, i, second: true } }])));
        return mine;
      });
      const positions = (await Promise.all(appenders)).flat();
      for (let p = 0; p < 2; p++) {
        const offsets = positions.filter((x) => x.partition === p).map((x) => x.offset).sort((x, y) => x - y);
        assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, k) => k), `partition ${p} offsets`);
        const records = await readAll(log, 'busy', p);
        assert.equal(records.length, offsets.length);
        for (let a = 0; a < 8; a++) {
          const seq = records.filter((r) => r.key === `a${a}`).map((r) => (r.value as { i: number }).i);
          assert.deepEqual(seq, [...seq].sort((x, y) => x - y), `appender ${a} order`);
        }
      }
    });

    test('appendAt appends at exactly the given end offset, or nothing; of two writers racing for one offset exactly one wins', async () => {
      await log.createTopic('fenced', { partitions: 2 });
      const pos = await log.appendAt('fenced', 1, 0, [{ key: 'a', value: 1, partition: 0 }, { key: 'b', value: 2 }]);
      assert.deepEqual(pos, [{ partition: 1, offset: 0 }, { partition: 1, offset: 1 }], "the records' own partition is ignored");
      await assert.rejects(log.appendAt('fenced', 1, 1, [{ value: 'stale' }]), (e) => e instanceof OffsetConflictError && e.code === 'offset_conflict' && e.actual === 2);
      await assert.rejects(log.appendAt('fenced', 1, 3, [{ value: 'ahead' }]), OffsetConflictError);
      assert.deepEqual(log.endOffsets('fenced'), [0, 2], 'a refused appendAt stores nothing');
      await log.appendAt('fenced', 1, 2, [{ value: 3 }]);
      const race = await Promise.allSettled([
        log.appendAt('fenced', 0, 0, [{ value: 'x1' }, { value: 'x2' }, { value: 'x3' }]),
        log.appendAt('fenced', 0, 0, [{ value: 'y1' }, { value: 'y2' }]),
      ]);
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1, 'one writer wins');
      const rejected = race.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(rejected.reason instanceof OffsetConflictError, String(rejected.reason));
      const values = (await readAll(log, 'fenced', 0)).map((r) => r.value);
      assert.ok(JSON.stringify(values) === '["x1","x2","x3"]' || JSON.stringify(values) === '["y1","y2"]', `the winner's records only: ${JSON.stringify(values)}`);
      assert.deepEqual((await readAll(log, 'fenced', 1)).map((r) => r.value), [1, 2, 3]);
    });

    test('a batch with a bad record is refused whole, naming the record; nothing of it is stored', async () => {
      await log.createTopic('strict', { partitions: 2 });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: [string, unknown[]][] = [
        ['timestamp', [{ value: 1 }, { value: 2, timestamp: Number.NaN }]],
        ['partition', [{ value: 1 }, { value: 2, partition: 7 }]],
        ['key', [{ value: 1 }, { value: 2, key: 42 }]],
        ['JSON', [{ value: 1, partition: 0 }, { value: cyclic, partition: 1 }]],
      ];
      for (const [what, records] of bad) {
        await assert.rejects(log.append('strict', records as never), (e) => e instanceof RivuletError && /record 1/.test(e.message), what);
      }
      assert.deepEqual(log.endOffsets('strict'), [0, 0], 'nothing was stored');
    });

    test('topics: list, describe, update config, delete; errors name the topic', async () => {
      await log.createTopic('b', { partitions: 2 });
      await log.createTopic('a', { partitions: 1, retentionMs: 3_600_000 });
      assert.deepEqual(log.listTopics().map((t) => t.name), ['a', 'b']);
      assert.equal(log.describeTopic('a')?.config.retentionMs, 3_600_000);
      const updated = await log.updateTopicConfig('a', { retentionMs: 60_000 });
      assert.equal(updated.config.retentionMs, 60_000);
      await reopen();
      assert.equal(log.describeTopic('a')?.config.retentionMs, 60_000);
      await assert.rejects(log.updateTopicConfig('a', { retentionMs: -5 }), /retentionMs must be/);
      await log.deleteTopic('b');
      assert.equal(log.describeTopic('b'), undefined);
      await assert.rejects(log.read('b', 0, 0, 1), UnknownTopicError);
      await assert.rejects(log.append('missing', [{ value: 1 }]), (e) => e instanceof UnknownTopicError && /'missing'/.test(e.message));
      await assert.rejects(log.createTopic('a', { partitions: 3 }), /already exists with 1 partitions/);
    });
  });
}
