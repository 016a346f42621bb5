/**
 * Server-Sent Events: a topic subscription over plain HTTP with the frames of protocol v1; an event
 * stream cut after its first events and resumed with `Last-Event-ID` (as a browser's EventSource does)
 * gives every record once; bad subscriptions are refused before the stream starts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.js';
import type { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { readEvents, type SseEvent } from '../helpers/sse.js';
import { waitFor } from '../helpers/tmp.js';

describe('Server-Sent Events', () => {
  let serving: Serving;
  let log: EmbeddedLog;
  let engine: Engine;
  let server: RunningServer;

  before(async () => {
    serving = await startServing({ gateway: { batch: 10 } });
    ({ log, engine, server } = serving);
    await log.createTopic('orders', { partitions: 2 });
    await log.append('orders', Array.from({ length: 200 }, (_, n) => ({ key: `o${n}`, value: { n } })));
  });

  after(async () => {
    await serving.stop();
  });

  const records = (events: SseEvent[]) => events.filter((e) => e.event === 'records').flatMap((e) => e.data.records as { partition: number; offset: number; value: { n: number } }[]);

  test('a stream cut after a few events and resumed with Last-Event-ID gives every record once', async () => {
    const filter = encodeURIComponent(JSON.stringify({ where: [{ field: 'n', op: 'lt', value: 150 }] }));
    const url = `${server.url}/v1/sse/topics/orders?from=earliest&filter=${filter}`;
    const first = await readEvents(url, {}, (evs) => evs.filter((e) => e.event === 'records').length >= 3);
    assert.equal(first[0]!.event, 'subscribed');
    const last = first.filter((e) => e.event === 'records').at(-1)!;
    assert.equal(last.id, (last.data.positions as number[]).join(','), 'the id of a records event is its positions');
    const got = records(first);
    const rest = await readEvents(url, { 'last-event-id': last.id! }, (evs) => got.length + records(evs).length >= 150);
    got.push(...records(rest));
    const ns = got.map((r) => r.value.n).sort((a, b) => a - b);
    assert.deepEqual(ns, Array.from({ length: 150 }, (_, i) => i), 'every record that passes the filter, once');
  });

  test('a stream left open ends when the server closes', async () => {
    const other = await startServer({ log, engine, host: '127.0.0.1', port: 0, auth: { anonymous: ['admin'] } });
    const res = await fetch(`${other.url}/v1/sse/topics/orders?from=latest`);
    const reader = res.body!.getReader();
    await reader.read(); // the subscribed event
    await other.close();
    for (;;) if ((await reader.read()).done) break;
  });

  test('bad subscriptions are refused before the stream starts, naming what is wrong', async () => {
    const bad = async (query: string) => {
      const res = await fetch(`${server.url}/v1/sse/topics/orders?${query}`);
      return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
    };
    const filter = await bad(`filter=${encodeURIComponent('{"where":[{"field":"n","op":"like"}]}')}`);
    assert.equal(filter.status, 400);
    assert.equal(filter.body.error.code, 'invalid_subscription');
    assert.match(filter.body.error.message, /filter at 'where\.0\.op'/);
    const offsets = await bad('offsets=1,2,3');
    assert.match(offsets.body.error.message, /has 2 partitions/);
    const unknown = await fetch(`${server.url}/v1/sse/topics/nope`);
    assert.equal(unknown.status, 404);
  });

  test('a view as a stream: the snapshot, then changes; resumed with Last-Event-ID, only the changes since', async () => {
    await log.createTopic('stock', { partitions: 1 });
    server.views.add('stock');
    await log.append('stock', Array.from({ length: 25 }, (_, i) => ({ key: `s${i}`, value: { n: 0 } })));
    await waitFor('the view', () => server.views.get('stock').size === 25);
    const url = `${server.url}/v1/sse/views/stock`;
    const first = await readEvents(url, {}, (evs) => evs.some((e) => e.event === 'snapshot' && e.data.done === true));
    const parts = first.filter((e) => e.event === 'snapshot');
    assert.deepEqual(parts.map((e) => (e.data.rows as unknown[]).length), [10, 10, 5], 'in parts of the batch size');
    const held = new Map(parts.flatMap((e) => (e.data.rows as { key: string; value: unknown }[]).map((r) => [r.key, r.value] as const)));
    const lastId = parts.at(-1)!.id!;
    assert.equal(lastId, server.views.get('stock').position().join(','));
    // While the reader is away: updates, a deletion, a new row.
    await log.append('stock', [...[1, 2, 3].map((i) => ({ key: `s${i}`, value: { n: 9 } })), { key: 's4', value: null }, { key: 'new', value: { n: 1 } }]);
    await waitFor('the view', () => server.views.get('stock').get('new') !== undefined);
    const rest = await readEvents(url, { 'last-event-id': lastId }, (evs) => evs.some((e) => e.event === 'changes' && e.id !== undefined));
    assert.equal(rest[0]!.event, 'resumed');
    assert.equal(rest.filter((e) => e.event === 'snapshot').length, 0);
    for (const e of rest.filter((x) => x.event === 'changes')) {
      for (const c of e.data.changes as { key: string; value?: unknown; deleted?: boolean }[]) {
        if (c.deleted) held.delete(c.key);
        else held.set(c.key, c.value);
      }
    }
    assert.deepEqual(held, new Map(server.views.get('stock').rows().map((r) => [r.key, r.value])));
    const bad = await fetch(`${url}?flow=pause`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_subscription');
    assert.equal((await fetch(`${server.url}/v1/sse/views/nope`)).status, 404);
  });
});
