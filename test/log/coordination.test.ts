/**
 * The coordination conformance suite: documents with compare-and-set and leases, as every shared log
 * backend keeps them for its workers, against real servers the test starts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VersionConflictError, type Coordination } from '../../src/log/coordination.js';
import { SHARED_LOGS, twoProcesses } from '../helpers/servers.js';

for (const backend of SHARED_LOGS) {
  describe(`coordination: ${backend.name}`, () => {
    const logs = twoProcesses(backend);
    const pair = async () => {
      const { a, b, close } = await logs();
      return { a: a.coordination() as Coordination, b: b.coordination() as Coordination, close };
    };

    test('documents: written with compare-and-set, read back whole by another process, of any size', async () => {
      const { a, b, close } = await pair();
      try {
        assert.equal(await a.getDocument('checkpoint/p/0'), undefined);
        assert.equal(await a.putDocument('checkpoint/p/0', Buffer.from('one'), 0), 1);
        await assert.rejects(b.putDocument('checkpoint/p/0', Buffer.from('stale'), 0), (e) => e instanceof VersionConflictError && e.actual === 1);
        const big = Buffer.alloc(1_500_000, 7);
        big.write('tail', big.length - 4);
        assert.equal(await b.putDocument('checkpoint/p/0', big, 1), 2);
        const got = await a.getDocument('checkpoint/p/0');
        assert.equal(got?.version, 2);
        assert.ok(Buffer.from(got!.data).equals(big), 'the large document comes back byte for byte');
        await assert.rejects(a.putDocument('checkpoint/p/0', Buffer.from('x'), 1), VersionConflictError);
        assert.equal((await b.getDocument('checkpoint/p/0'))?.version, 2, 'a refused write changes nothing');
        // Two writers from the same version: exactly one wins.
        const race = await Promise.allSettled([a.putDocument('checkpoint/p/0', Buffer.from('a'), 2), b.putDocument('checkpoint/p/0', Buffer.from('b'), 2)]);
        assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
        const winner = race[0]!.status === 'fulfilled' ? 'a' : 'b';
        assert.equal(Buffer.from((await a.getDocument('checkpoint/p/0'))!.data).toString(), winner);
        await a.deleteDocument('checkpoint/p/0');
        assert.equal(await b.getDocument('checkpoint/p/0'), undefined);
      } finally {
        await close();
      }
    });

    test('leases: one holder at a time; renewed by its holder; free again when released or expired', async () => {
      const { a, b, close } = await pair();
      try {
        assert.equal(await a.acquireLease('task/p/0', 'worker-a', 60_000), true);
        assert.equal(await b.acquireLease('task/p/0', 'worker-b', 60_000), false, 'held by another');
        assert.equal(await a.acquireLease('task/p/0', 'worker-a', 60_000), true, 'a renewal');
        assert.deepEqual((await b.leases('task/')).map((l) => [l.name, l.owner]), [['task/p/0', 'worker-a']]);
        await b.releaseLease('task/p/0', 'worker-b');
        assert.equal(await b.acquireLease('task/p/0', 'worker-b', 60_000), false, 'only the holder releases');
        await a.releaseLease('task/p/0', 'worker-a');
        assert.equal(await b.acquireLease('task/p/0', 'worker-b', 300), true, 'free after release');
        await new Promise((r) => setTimeout(r, 700));
        assert.deepEqual(await a.leases('task/'), [], 'expired leases are not listed');
        assert.equal(await a.acquireLease('task/p/0', 'worker-a', 60_000), true, 'free after expiry');
        const race = await Promise.all([a.acquireLease('task/p/1', 'worker-a', 60_000), b.acquireLease('task/p/1', 'worker-b', 60_000)]);
        assert.deepEqual(race.filter(Boolean).length, 1, 'of two at once, one gets it');
      } finally {
        await close();
      }
    });
  });
}
