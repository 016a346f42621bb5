import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BROKEN, killRepeatedly, OUTPUTS, prepare, results, runToEnd } from '../helpers/chaos.js';
import { startNatsServer, startRedisServer } from '../helpers/servers.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Exactly-once under SIGKILL on the server-side logs: the crash test's pipeline run on NATS JetStream
 * and on Redis Streams, killed at random moments and restarted each time, must leave the same
 * records in every output topic, and the same views, as one uninterrupted run on the embedded log.
 */

const ORDERS = 12_000;
const KILLS = 5;

type Server = Awaited<ReturnType<typeof startNatsServer>>;
const backends: [string, () => Promise<Server>, (url: string) => string][] = [
  ['NATS JetStream', startNatsServer, (url) => `${url}?namespace=chaos`],
  ['Redis Streams', startRedisServer, (url) => `${url}?namespace=chaos`],
];

describe('exactly-once on the server-side logs', () => {
  let expected: Awaited<ReturnType<typeof results>>;
  let total: number;
  const clean = tempDir();
  before(async () => {
    total = await prepare(clean.dir, ORDERS);
    expected = await results(clean.dir, await runToEnd(clean.dir, total));
    assert.equal(expected.topics.paid!.flat().length, ORDERS - BROKEN + 4);
  });
  after(() => clean.remove());

  for (const [name, start, logUrl] of backends) {
    test(`${name}: outputs and views after ${KILLS} SIGKILLs equal an uninterrupted run on the embedded log`, { timeout: 600_000 }, async () => {
      const server = await start();
      const chaos = tempDir();
      try {
        const url = logUrl(server.url);
        assert.equal(await prepare(chaos.dir, ORDERS, url), total);
        const committedAtKill = await killRepeatedly(chaos.dir, total, KILLS, 11, url);
        assert.ok(committedAtKill.every((n) => n < total), `every kill came before the end of the input (${committedAtKill.join(', ')} of ${total})`);
        const actual = await results(chaos.dir, await runToEnd(chaos.dir, total, url), url);
        for (const topic of OUTPUTS) assert.deepEqual(actual.topics[topic], expected.topics[topic], `topic '${topic}'`);
        assert.deepEqual(actual.view, expected.view);
        assert.deepEqual(actual.milestones, expected.milestones);
      } finally {
        chaos.remove();
        await server.stop();
      }
    });
  }
});
