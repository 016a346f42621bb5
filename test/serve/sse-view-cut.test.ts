/** An SSE view stream cut in the middle of a snapshot in parts, resumed as EventSource does: the reader ends with every row. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';
import { readEvents as read } from '../helpers/sse.js';

let serving: Serving;
before(async () => { serving = await startServing({ gateway: { batch: 10 } }); });
after(async () => { await serving.stop(); });

test('a view stream cut after the first snapshot part and resumed with Last-Event-ID holds every row', async () => {
  const { log, server } = serving;
  await log.createTopic('stock', { partitions: 1 });
  server.views.add('stock');
  await log.append('stock', Array.from({ length: 25 }, (_, i) => ({ key: `s${i}`, value: { n: i } })));
  await waitFor('the view', () => server.views.get('stock').size === 25);
  const url = `${server.url}/v1/sse/views/stock`;
  // The browser's EventSource keeps the id of the last event it got: here part 0 of 3.
  const first = await read(url, {}, (evs) => evs.some((e) => e.event === 'snapshot'));
  const held = new Map<string, unknown>();
  for (const r of first[0]!.data.rows) held.set(r.key, r.value);
  assert.equal(first[0]!.data.done, false);
  const lastEventId = first.filter((e) => e.id !== undefined).at(-1)?.id;
  const rest = await read(url, lastEventId === undefined ? {} : { 'last-event-id': lastEventId }, (evs) => evs.some((e) => e.event === 'resumed' || (e.event === 'snapshot' && e.data.done)));
  await new Promise((r) => setTimeout(r, 200));
  for (const e of rest) {
    if (e.event === 'snapshot') { if (e.data.part === 0) held.clear(); for (const r of e.data.rows) held.set(r.key, r.value); }
    if (e.event === 'changes') for (const c of e.data.changes) { if (c.deleted) held.delete(c.key); else held.set(c.key, c.value); }
  }
  assert.equal(held.size, 25, `the client holds ${held.size} of 25 rows after resuming (events: ${rest.map((e) => e.event).join(',')})`);
});
