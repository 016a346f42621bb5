import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BROKEN, CUSTOMERS, killRepeatedly, ORDERS, OUTPUTS, prepare, results, runToEnd } from '../helpers/chaos.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Exactly-once under SIGKILL: the same input through the same pipeline, once without interruption and
 * once killed at random moments over the run and restarted each time, must leave the same records in
 * every output topic (no record missing, none twice) and the same view.
 */

const KILLS = 20;

for (const backend of ['memory', 'lmdb'] as const) {
test(`${backend} state: outputs and views after ${KILLS} SIGKILLs at random moments equal an uninterrupted run`, { timeout: 600_000 }, async () => {
  process.env.CHAOS_STATE = backend;
  const clean = tempDir();
  const chaos = tempDir();
  try {
    const total = await prepare(clean.dir);
    assert.equal(await prepare(chaos.dir), total);
    const expected = await results(clean.dir, await runToEnd(clean.dir, total));
    assert.equal(expected.topics.paid!.flat().length, ORDERS - BROKEN + 4);
    assert.equal(expected.topics._deadletter!.flat().length, BROKEN);
    assert.ok(expected.topics['customer-sessions']!.flat().length > CUSTOMERS, 'customers have several sessions each');
    assert.ok(Object.values(expected.view).filter((v) => v !== null).length >= CUSTOMERS);

    const committedAtKill = await killRepeatedly(chaos.dir, total, KILLS, 7);
    assert.ok(committedAtKill.every((n) => n < total), `every kill came before the end of the input (${committedAtKill.join(', ')} of ${total})`);
    const actual = await results(chaos.dir, await runToEnd(chaos.dir, total));
    for (const topic of OUTPUTS) assert.deepEqual(actual.topics[topic], expected.topics[topic], `topic '${topic}'`);
    assert.deepEqual(actual.view, expected.view);
    assert.ok(expected.milestones.length > 1000);
    assert.deepEqual(actual.milestones, expected.milestones);
  } finally {
    delete process.env.CHAOS_STATE;
    clean.remove();
    chaos.remove();
  }
});
}
