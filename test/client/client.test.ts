/**
 * `rivulet/client` against a real server, in Node with the `ws` package as its WebSocket: a topic
 * subscription that lives through a server restart gets every record once and in order, a view
 * subscription ends equal to the view (resuming with the changes only), ingest and queries with their
 * errors, tokens asked for again at each connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createClient, RivuletClientError, type ConnectionStatus, type TopicRecord, type ViewChange } from '../../src/client/mod.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import type { AuthOptions } from '../../src/serve/auth/auth-options.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';

interface Reading { sensor: string; n: number }
type Topics = { readings: Reading; levels: { level: number }; inbox: { text: string } };

const KEY = 'client-key-0123456789abcdef';
const READER = 'reader-key-0123456789abcdef';
const auth: AuthOptions = {
  apiKeys: [
    { id: 'app', key: KEY, scopes: ['read:*', 'ingest:*'] },
    { id: 'reader', key: READER, scopes: ['read:*'] },
  ],
};

describe('rivulet/client', () => {
  let serving: Serving;
  let server: RunningServer;
  let url: string;

  before(async () => {
    serving = await startServing({ auth });
    server = serving.server;
    url = server.url;
  });

  after(async () => {
    await server.close();
    await serving.engine.stop();
    await serving.log.close();
  });

  /** Closes the server (every connection drops) and starts a new one on the same port. */
  async function restartServer(): Promise<void> {
    await server.close();
    server = await startServer({ log: serving.log, engine: serving.engine, host: '127.0.0.1', port: server.port, auth });
    if (serving.log.describeTopic('levels')) server.views.add('levels');
  }

  test('a topic subscription lives through a server restart: every record once, in order', async () => {
    await serving.log.createTopic('readings', { partitions: 2 });
    const statuses: ConnectionStatus[] = [];
    let tokens = 0;
    const client = createClient<Topics>({
      url, WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      token: () => { tokens++; return KEY; },
      onStatus: (s) => statuses.push(s),
    });
    const got: TopicRecord<Reading>[] = [];
    const sub = client.subscribe('readings', { from: 'earliest', onRecords: (records) => got.push(...records) });
    const total = 2_000;
    try {
      for (let i = 0; i < total; i += 100) {
        await serving.log.append('readings', Array.from({ length: 100 }, (_, j) => ({ key: `s${(i + j) % 5}`, value: { sensor: `s${(i + j) % 5}`, n: i + j } })));
        if (i === 800) {
          await waitFor('some records', () => got.length > 0);
          await restartServer();
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor('every record', () => got.length >= total);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.length, total, 'none twice');
      for (const p of [0, 1]) {
        const offsets = got.filter((r) => r.partition === p).map((r) => r.offset);
        assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p} in order, none missing`);
      }
      assert.equal(new Set(got.map((r) => r.value.n)).size, total);
      assert.ok(statuses.includes('reconnecting'), statuses.join());
      assert.equal(statuses.at(-1), 'open');
      assert.ok(tokens >= 2, 'the token was asked for again for the new connection');
      assert.deepEqual(sub.positions, serving.log.endOffsets('readings'));
    } finally {
      client.close();
    }
  });

  test('a view subscription ends equal to the view, resuming after a restart with only the changes', async () => {
    await serving.log.createTopic('levels', { partitions: 2 });
    server.views.add('levels');
    await serving.log.append('levels', Array.from({ length: 30 }, (_, i) => ({ key: `t${i}`, value: { level: 0 } })));
    const client = createClient<Topics>({ url, WebSocket, token: READER, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    const calls: ViewChange<{ level: number }>[][] = [];
    const view = client.subscribeView('levels', { onChange: (_rows, changes) => calls.push(changes) });
    try {
      await waitFor('the snapshot', () => view.rows.size === 30);
      await restartServer();
      await serving.log.append('levels', [
        ...Array.from({ length: 10 }, (_, i) => ({ key: `t${i}`, value: { level: 5 } })),
        { key: 't29', value: null },
        { key: 'new', value: { level: 9 } },
      ]);
      await waitFor('the changes', () => view.rows.get('new')?.value.level === 9 && !view.rows.has('t29'));
      const want = server.views.get('levels').rows();
      assert.deepEqual([...view.rows.values()].sort((a, b) => a.key.localeCompare(b.key)), want);
      assert.deepEqual(view.positions, server.views.get('levels').position());
      // One snapshot (a call without changes), then changes only: the new connection resumed.
      assert.equal(calls.filter((c) => c.length === 0).length, 1);
    } finally {
      client.close();
    }
  });

  test('ingest and queries, typed, with the server errors as RivuletClientError', async () => {
    await serving.log.createTopic('inbox', { partitions: 1 });
    server.views.add('inbox');
    const client = createClient<Topics>({ url, WebSocket, token: KEY });
    const result = await client.ingest('inbox', [{ text: 'a' }, { text: 'b' }]);
    assert.equal(result.accepted, 2);
    assert.deepEqual(result.offsets.map((o) => o.offset), [0, 1]);
    await serving.log.append('inbox', [{ key: 'm1', value: { text: 'one' } }, { key: 'm2', value: { text: 'two' } }, { key: 'x', value: { text: 'ex' } }]);
    await waitFor('the view', () => server.views.get('inbox').size === 3);
    assert.equal((await client.query.get('inbox', 'm1'))?.value.text, 'one');
    assert.equal(await client.query.get('inbox', 'nope'), undefined);
    const page = await client.query.rows('inbox', { prefix: 'm', limit: 1 });
    assert.deepEqual(page.rows.map((r) => r.key), ['m1']);
    const next = await client.query.rows('inbox', { prefix: 'm', limit: 1, cursor: page.cursor! });
    assert.deepEqual(next.rows.map((r) => r.key), ['m2']);
    assert.equal(next.cursor, undefined);
    assert.equal(await client.query.count('inbox', 'm'), 2);

    const reader = createClient<Topics>({ url, WebSocket, token: READER });
    await assert.rejects(reader.ingest('inbox', [{ text: 'c' }]), (e: unknown) => e instanceof RivuletClientError && e.code === 'forbidden' && e.status === 403 && /lacks scope 'ingest:inbox'/.test(e.message));
    const anonymous = createClient<Topics>({ url, WebSocket });
    await assert.rejects(anonymous.query.count('inbox'), (e: unknown) => e instanceof RivuletClientError && e.code === 'unauthenticated' && e.status === 401);
    const nowhere = createClient({ url: 'http://127.0.0.1:9', WebSocket });
    await assert.rejects(nowhere.query.count('inbox'), (e: unknown) => e instanceof RivuletClientError && e.code === 'network_error');
  });

  test('a subscription the server refuses ends with onError; the others go on', async () => {
    const client = createClient({ url, WebSocket, token: READER });
    try {
      const errors: RivuletClientError[] = [];
      const got: TopicRecord[] = [];
      client.subscribe('no-such-topic', { onRecords: () => assert.fail('no records'), onError: (e) => errors.push(e) });
      client.subscribe('inbox', { from: 'earliest', onRecords: (r) => got.push(...r) });
      await waitFor('the refusal', () => errors.length === 1);
      assert.equal(errors[0]!.code, 'unknown_topic');
      await waitFor('the other subscription', () => got.length === 5);
    } finally {
      client.close();
    }
  });
});
