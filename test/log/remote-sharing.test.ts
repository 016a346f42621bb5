/**
 * What makes a server-side log more than a remote disk: several processes open the same log and see
 * each other's topics, records and offsets. Two `Log` instances on one namespace stand for two
 * processes (each has its own connections and cache).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnknownTopicError } from '../../src/core/errors.js';
import type { Log } from '../../src/log/log.js';
import { SHARED_LOGS, twoProcesses } from '../helpers/servers.js';
import { waitFor } from '../helpers/tmp.js';

for (const backend of SHARED_LOGS) {
  describe(`two processes on one ${backend.name} log`, () => {
    const logs = twoProcesses(backend);
    let a: Log;
    let b: Log;
    const pair = async () => {
      const opened = await logs();
      a = opened.a;
      b = opened.b;
      return opened.close;
    };

    test('a topic one creates, the other sees; records one appends, the other reads; a waiting reader is woken at once', async () => {
      const done = await pair();
      try {
        await a.createTopic('shared', { partitions: 2 });
        await waitFor('b to see the topic', () => b.describeTopic('shared')?.partitions === 2);
        // The poll runs every 5 s: waking within it means the notification did it.
        const t0 = Date.now();
        const waiting = b.waitForRecords('shared', [0, 0]);
        await a.append('shared', [{ key: 'x', value: { n: 1 }, partition: 1 }]);
        await waiting;
        assert.ok(Date.now() - t0 < 4000, 'woken by the notification, not the poll');
        assert.deepEqual(b.endOffsets('shared'), [0, 1]);
        const [r] = await b.read('shared', 1, 0, 10);
        assert.deepEqual([r!.key, r!.value], ['x', { n: 1 }]);
      } finally {
        await done();
      }
    });

    test('appends from both to one partition get gapless, distinct offsets; each sees the other\'s records in order', async () => {
      const done = await pair();
      try {
        await a.createTopic('both', { partitions: 1 });
        await waitFor('b to see the topic', () => b.describeTopic('both'));
        const write = async (log: Log, who: string) => {
          const out = [];
          for (let i = 0; i < 30; i++) out.push(...(await log.append('both', [{ value: { who, i } }, { value: { who, i, second: true } }])));
          return out;
        };
        const positions = (await Promise.all([write(a, 'a'), write(b, 'b')])).flat();
        assert.deepEqual(positions.map((p) => p.offset).sort((x, y) => x - y), Array.from({ length: 120 }, (_, k) => k));
        for (const log of [a, b]) {
          const records = await log.read('both', 0, 0, 500);
          assert.equal(records.length, 120);
          for (const who of ['a', 'b']) {
            const seq = records.filter((r) => (r.value as { who: string }).who === who).map((r) => (r.value as { i: number }).i);
            assert.deepEqual(seq, [...seq].sort((x, y) => x - y));
          }
        }
      } finally {
        await done();
      }
    });

    test('offsets one commits, the other reads; a topic one deletes is gone for the other', async () => {
      const done = await pair();
      try {
        await a.createTopic('gone', { partitions: 2 });
        await a.append('gone', [{ value: 1, partition: 0 }]);
        await a.commitOffsets('workers', 'gone', [1, 0]);
        assert.deepEqual(await b.committedOffsets('workers', 'gone'), [1, 0]);
        await waitFor('b to see the topic', () => b.describeTopic('gone'));
        await a.deleteTopic('gone');
        await waitFor('b to forget the topic', () => b.describeTopic('gone') === undefined);
        await assert.rejects(b.read('gone', 0, 0, 1), UnknownTopicError);
        // Created again under the same name, it starts from offset 0 with no committed offsets.
        await b.createTopic('gone', { partitions: 2 });
        assert.deepEqual(await a.committedOffsets('workers', 'gone'), [null, null]);
        const [pos] = await a.append('gone', [{ value: 'again', partition: 0 }]);
        assert.equal(pos!.offset, 0);
      } finally {
        await done();
      }
    });
  });
}
