import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnRivulet } from '../helpers/rivulet-process.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

interface Page { records: { partition: number; offset: number; key: string | null; timestamp: number; value: unknown }[] }

async function readTopic(url: string, topic: string): Promise<Page['records']> {
  const meta = (await (await fetch(`${url}/v1/topics/${topic}`)).json()) as { partitions: number; endOffsets: number[] };
  const out: Page['records'] = [];
  for (let p = 0; p < meta.partitions; p++) {
    for (let offset = 0; offset < meta.endOffsets[p]!; ) {
      const page = (await (await fetch(`${url}/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&limit=1000`)).json()) as Page;
      out.push(...page.records);
      offset += page.records.length;
    }
  }
  return out;
}

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('after a clean stop and a restart the log is intact and the pipeline resumes without repeating its output', async () => {
  const tmp = tempDir();
  let rivulet = await spawnRivulet(tmp.dir, ['--pipeline', 'test/fixtures/fraud-strict.ts']);
  try {
    const created = await fetch(`${rivulet.url}/v1/topics`, json({ name: 'notes', partitions: 3 }));
    assert.equal(created.status, 201);
    const notes = Array.from({ length: 500 }, (_, i) => ({ i, text: `note ${i}`, nested: { even: i % 2 === 0 } }));
    assert.equal((await fetch(`${rivulet.url}/v1/topics/notes/events`, json(notes))).status, 200);
    const payments = [1_000, 2_000, 3_000].map((ts) => ({ card: 'A', amount: 10, ts }));
    payments.push({ card: 'A', amount: 1, ts: 90_000 });
    assert.equal((await fetch(`${rivulet.url}/v1/topics/payments/events`, json(payments))).status, 200);
    await waitFor('the alert', async () => (await readTopic(rivulet.url, 'alerts')).length === 1);
    const notesBefore = await readTopic(rivulet.url, 'notes');
    const paymentsBefore = await readTopic(rivulet.url, 'payments');
    assert.equal(notesBefore.length, 500);

    assert.equal(await rivulet.stop('SIGTERM'), 0, 'clean exit');
    rivulet = await spawnRivulet(tmp.dir, ['--pipeline', 'test/fixtures/fraud-strict.ts']);

    assert.deepEqual(await readTopic(rivulet.url, 'notes'), notesBefore);
    assert.deepEqual(await readTopic(rivulet.url, 'payments'), paymentsBefore);
    // The window [60 s, 120 s) of A is still open in the restored state; this closes it, and nothing fires twice.
    assert.equal((await fetch(`${rivulet.url}/v1/topics/payments/events`, json([{ card: 'A', amount: 1, ts: 100_000 }, { card: 'A', amount: 1, ts: 300_000 }]))).status, 200);
    const stats = await waitFor('the second window', async () => {
      const rows = (await readTopic(rivulet.url, 'card-stats')).map((r) => r.value as { start: number; payments: number });
      return rows.some((r) => r.start === 60_000) ? rows : undefined;
    });
    assert.deepEqual(stats.map((r) => [r.start, r.payments]), [[0, 3], [60_000, 2]]);
    assert.equal((await readTopic(rivulet.url, 'alerts')).length, 1);
  } finally {
    await rivulet.stop();
    tmp.remove();
  }
});
