/**
 * WebSocket protocol v1 (docs/protocol.md) against a real server and real sockets: resuming after a
 * dropped connection from the last frame's positions gives exactly the records after them, a start
 * at a time, a `gap` frame when retention removed what a subscriber asked for, heartbeats and the
 * closing of a peer that stops answering pings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { RunningServer } from '../../src/serve/server.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';
import { WsClient, type Frame } from '../helpers/ws.js';

describe('WebSocket protocol v1', () => {
  let serving: Serving;
  let log: EmbeddedLog;
  let server: RunningServer;
  let wsUrl: string;

  before(async () => {
    serving = await startServing({ gateway: { batch: 50, heartbeatMs: 200 } }, { maintenanceIntervalMs: 0 });
    ({ log, server, wsUrl } = serving);
  });

  after(async () => {
    await serving.stop();
  });

  const id = (r: Frame) => `${r.partition}/${r.offset}`;

  test('a client that drops mid-stream and resumes from its last positions gets every record once', async () => {
    await log.createTopic('readings', { partitions: 3 });
    const total = 3000;
    const produce = (async () => {
      for (let i = 0; i < total; i += 100) {
        await log.append('readings', Array.from({ length: 100 }, (_, j) => ({ key: `s${(i + j) % 7}`, value: { n: i + j } })));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const seen: Frame[] = [];
    let from: unknown = 'earliest';
    // Three connections, each cut (terminated, as a network failure would) after a few frames.
    for (let round = 0; round < 3; round++) {
      const client = await WsClient.connect(wsUrl);
      client.send({ type: 'subscribe', id: 'r', topic: 'readings', from });
      await client.next('records frames', () => client.frames.filter((f) => f.type === 'records').length >= 3 && client.frames.at(-1)!.type !== 'subscribed');
      client.socket.terminate();
      const frames = client.frames.filter((f) => f.type === 'records');
      for (const f of frames) seen.push(...(f.records as Frame[]));
      // The positions of the last frame the client took in: everything after it comes next time.
      from = { offsets: frames.at(-1)!.positions };
    }
    await produce;
    const client = await WsClient.connect(wsUrl);
    client.send({ type: 'subscribe', id: 'r', topic: 'readings', from });
    await waitFor('the rest of the records', () => seen.length + client.records('r').length >= total);
    seen.push(...client.records('r'));
    client.close();
    const ids = seen.map(id);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    assert.equal(ids.length, total, 'no record missing');
    const byPartition = [0, 1, 2].map((p) => seen.filter((r) => r.partition === p).map((r) => r.offset as number));
    for (const offsets of byPartition) assert.deepEqual(offsets, offsets.map((_, i) => i), 'in offset order within each partition');
  });

  test('a subscription from a time starts at the first record at or after it, in each partition', async () => {
    await log.createTopic('timed', { partitions: 2 });
    await log.append('timed', [0, 1, 2, 3].flatMap((i) => [0, 1].map((partition) => ({ partition, key: null, timestamp: 1_000 * (i + 1), value: { i, partition } }))));
    const client = await WsClient.connect(wsUrl);
    try {
      client.send({ type: 'subscribe', id: 't', topic: 'timed', from: { time: 2_500 } });
      client.send({ type: 'subscribe', id: 'iso', topic: 'timed', from: { time: new Date(4_000).toISOString() } });
      client.send({ type: 'subscribe', id: 'bad', topic: 'timed', from: { time: 'yesterday' } });
      const subscribed = await client.next('subscribed', (f) => f.type === 'subscribed' && f.id === 't');
      assert.deepEqual(subscribed.positions, [2, 2]);
      await waitFor('records from 2.5 s', () => client.records('t').length === 4 && client.records('iso').length === 2);
      assert.deepEqual(client.records('t').map((r) => r.timestamp).sort(), [3_000, 3_000, 4_000, 4_000]);
      client.send({ type: 'subscribe', id: 'past', topic: 'timed', from: { offsets: [4, 9] } });
      const past = await client.next('an error for offsets past the end', (f) => f.type === 'error' && f.id === 'past');
      assert.equal(past.code, 'invalid_subscription');
      assert.match(past.message, /offset 9 of partition 1 is past the end of topic 'timed' \(4\)/);
      const error = await client.next('an error for a time that is none', (f) => f.type === 'error' && f.id === 'bad');
      assert.equal(error.code, 'invalid_subscription');
      assert.match(error.message, /'from\.time' must be epoch milliseconds or an ISO-8601 string, got "yesterday"/);
    } finally {
      client.close();
    }
  });

  test('records removed by retention before a subscriber read them come as a gap frame, then the rest', async () => {
    await log.createTopic('short', { partitions: 1, segmentBytes: 2_000, retentionBytes: 4_000 });
    for (let i = 0; i < 20; i++) await log.append('short', Array.from({ length: 10 }, (_, j) => ({ key: null, value: { n: i * 10 + j, pad: 'x'.repeat(20) } })));
    await log.runMaintenance();
    const start = log.startOffsets('short')[0]!;
    assert.ok(start > 0, 'retention removed the oldest segments');
    const client = await WsClient.connect(wsUrl);
    try {
      client.send({ type: 'subscribe', id: 'g', topic: 'short', from: { offsets: [5] } });
      const gap = await client.next('a gap frame', (f) => f.type === 'gap');
      assert.deepEqual({ ...gap }, { type: 'gap', id: 'g', partition: 0, from: 5, to: start, reason: 'retention' });
      await waitFor('the records that are left', () => client.records('g').length === 200 - start);
      assert.equal(client.records('g')[0]!.offset, start);
      // The gap comes before any record.
      assert.ok(client.frames.indexOf(gap) < client.frames.findIndex((f) => f.type === 'records'));
    } finally {
      client.close();
    }
  });

  test('filters: only records and view rows of the given keys whose values meet every predicate', async () => {
    await log.createTopic('payments', { partitions: 2 });
    server.views.add('payments');
    const payments = Array.from({ length: 60 }, (_, i) => ({ key: `card-${i % 6}`, value: { amount: i * 10, card: { country: i % 3 === 0 ? 'NL' : 'DE' }, ...(i % 4 === 0 ? { flagged: true } : {}) } }));
    await log.append('payments', payments);
    const client = await WsClient.connect(wsUrl);
    try {
      client.send({ type: 'subscribe', id: 'f', topic: 'payments', from: 'earliest', filter: { keys: ['card-0', 'card-3'], where: [{ field: 'amount', op: 'gte', value: 200 }, { field: 'card.country', op: 'eq', value: 'NL' }] } });
      client.send({ type: 'subscribe', id: 'e', topic: 'payments', from: 'earliest', filter: { where: [{ field: 'flagged', op: 'exists' }, { field: 'amount', op: 'in', value: [0, 40, 80, 999] }] } });
      const expected = (pred: (p: typeof payments[number], i: number) => boolean) => payments.map((p, i) => [p, i] as const).filter(([p, i]) => pred(p, i)).map(([p]) => p.value.amount).sort((a, b) => a - b);
      await waitFor('filtered records', () => client.records('f').length === expected((p) => ['card-0', 'card-3'].includes(p.key) && p.value.amount >= 200 && p.value.card.country === 'NL').length);
      assert.deepEqual(client.records('f').map((r) => r.value.amount).sort((a: number, b: number) => a - b), expected((p) => ['card-0', 'card-3'].includes(p.key) && p.value.amount >= 200 && p.value.card.country === 'NL'));
      await waitFor('records with a flag', () => client.records('e').length === 3);
      assert.deepEqual(client.records('e').map((r) => r.value.amount).sort((a: number, b: number) => a - b), [0, 40, 80]);
      // A view: the snapshot and the changes both filtered; a deleted key passes when its key does.
      await waitFor('the view', () => server.views.get('payments').position().join() === log.endOffsets('payments').join());
      client.send({ type: 'subscribe', id: 'v', view: 'payments', filter: { keys: ['card-1', 'card-2'], where: [{ field: 'amount', op: 'lt', value: 1000 }] } });
      const snapshot = await client.next('the snapshot', (f) => f.type === 'snapshot' && f.id === 'v');
      assert.deepEqual(snapshot.rows.map((r: Frame) => [r.key, r.value.amount]), [['card-1', 550], ['card-2', 560]]);
      await log.append('payments', [{ key: 'card-1', value: { amount: 5000 } }, { key: 'card-2', value: { amount: 7 } }, { key: 'card-4', value: { amount: 1 } }, { key: 'card-1', value: null }]);
      const changes = () => client.frames.filter((f) => f.type === 'changes' && f.id === 'v').flatMap((f) => f.changes as Frame[]);
      await waitFor('changes', () => changes().length >= 2 && server.views.get('payments').position().join() === log.endOffsets('payments').join());
      await waitFor('changes', () => changes().length >= 3);
      // card-1 at 5000 no longer meets the filter: a deletion for the client, then the real one.
      assert.deepEqual(changes().map((c) => [c.key, c.deleted ? 'deleted' : c.value.amount]).sort(), [['card-1', 'deleted'], ['card-1', 'deleted'], ['card-2', 7]]);
      // Paths follow the value's own fields only.
      client.send({ type: 'subscribe', id: 'proto', topic: 'payments', from: 'earliest', filter: { where: [{ field: 'constructor', op: 'exists' }] } });
      client.send({ type: 'subscribe', id: 'all', topic: 'payments', from: 'earliest' });
      await waitFor('every record', () => client.records('all').length === 64);
      assert.equal(client.records('proto').length, 0);
      // A filter of the wrong shape is refused, naming the field.
      client.send({ type: 'subscribe', id: 'bad', topic: 'payments', filter: { where: [{ field: 'amount', op: 'like', value: 3 }] } });
      const error = await client.next('an error', (f) => f.type === 'error' && f.id === 'bad');
      assert.equal(error.code, 'invalid_frame');
      assert.match(error.message, /filter\.where\.0\.op/);
    } finally {
      client.close();
    }
  });

  test('an oversized frame gets an error frame and is ignored; a huge one closes the connection', async () => {
    const client = await WsClient.connect(wsUrl);
    try {
      client.send({ type: 'subscribe', id: 'big', topic: 'readings', pad: 'x'.repeat(100 << 10) });
      const error = await client.next('an error frame', (f) => f.type === 'error');
      assert.equal(error.code, 'frame_too_large');
      assert.match(error.message, /frame is \d+ bytes; the limit is 65536 bytes/);
      // The connection still serves.
      client.send({ type: 'subscribe', id: 'ok', topic: 'readings', from: 'latest' });
      await client.next('subscribed', (f) => f.type === 'subscribed' && f.id === 'ok');
      const closed = new Promise<number>((resolve) => client.socket.once('close', (c) => resolve(c)));
      client.send('x'.repeat(2 << 20));
      assert.equal(await closed, 1009);
    } finally {
      client.close();
    }
  });

  test('heartbeats come while nothing else does; a peer that stops answering pings is closed', async () => {
    const client = await WsClient.connect(wsUrl);
    await waitFor('two heartbeats', () => client.frames.filter((f) => f.type === 'heartbeat').length >= 2);
    const beats = client.frames.filter((f) => f.type === 'heartbeat');
    assert.ok(beats.every((b) => typeof b.at === 'number'));
    client.close();
    // A peer that does not answer pings (as one behind a dead network) is closed by the server.
    const silent = new WebSocket(wsUrl, { autoPong: false });
    let heartbeats = 0;
    silent.on('message', (data) => { if ((JSON.parse(data.toString()) as Frame).type === 'heartbeat') heartbeats++; });
    const code = await new Promise<number>((resolve) => silent.once('close', (c) => resolve(c)));
    assert.equal(code, 1006, 'closed by the server without a close frame');
    assert.ok(heartbeats >= 1 && heartbeats <= 2, `closed after the first unanswered ping (${heartbeats} heartbeats)`);
  });
});

describe('the shared tail of a topic', () => {
  test('subscriptions from anywhere catch up, join the tail, and get every record once, in order', async () => {
    const serving = await startServing({ gateway: { batch: 20 } });
    const { log, server, wsUrl } = serving;
    try {
      await log.createTopic('busy', { partitions: 3 });
      const produce = async (from: number, n: number) => {
        for (let i = from; i < from + n; i += 50) {
          await log.append('busy', Array.from({ length: 50 }, (_, j) => ({ key: `k${(i + j) % 11}`, value: { n: i + j } })));
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      await produce(0, 600);
      const clients = await Promise.all([0, 1, 2, 3].map(() => WsClient.connect(wsUrl)));
      const starts: unknown[] = ['earliest', 'latest', { offsets: [10, 150, 0] }, { last: 30 }, 'earliest'];
      // Some filter by key, some by value: the tail finds their records for them.
      const filters = [undefined, { keys: ['k3', 'k7'] }, undefined, { where: [{ field: 'n', op: 'gte', value: 1_000 }] }, { keys: ['k1'], where: [{ field: 'n', op: 'lt', value: 2_000 }] }, undefined];
      const passes = (f: (typeof filters)[number], r: Frame) => !f || (('keys' in f ? f.keys!.includes(r.key as string) : true)
        && ('where' in f ? f.where!.every((w) => (w.op === 'gte' ? (r.value as { n: number }).n >= w.value : (r.value as { n: number }).n < w.value)) : true));
      const subs: { client: WsClient; id: string; filter: (typeof filters)[number] }[] = [];
      for (let i = 0; i < 40; i++) {
        const client = clients[i % 4]!;
        const id = `s${i}`;
        const filter = filters[i % filters.length];
        client.send({ type: 'subscribe', id, topic: 'busy', from: starts[i % starts.length], ...(filter ? { filter } : {}) });
        subs.push({ client, id, filter });
        if (i % 10 === 9) await produce(600 + i * 50, 100);
      }
      await produce(3_000, 1_000);
      const ends = log.endOffsets('busy');
      const all = await Promise.all(ends.map((end, p) => log.read('busy', p, 0, end)));
      const expected = (filter: (typeof filters)[number], start: number[], p: number) =>
        all[p]!.filter((r) => r.offset >= start[p]! && passes(filter, r as unknown as Frame)).map((r) => r.offset);
      await waitFor('every subscription at the end', () => subs.every(({ client, id, filter }) => {
        const start = client.frames.find((f) => f.type === 'subscribed' && f.id === id)?.positions as number[] | undefined;
        return start !== undefined && ends.every((_, p) => client.records(id).filter((r) => r.partition === p).length === expected(filter, start, p).length);
      }), 30_000);
      await new Promise((r) => setTimeout(r, 100));
      for (const { client, id, filter } of subs) {
        const start = client.frames.find((f) => f.type === 'subscribed' && f.id === id)!.positions as number[];
        const records = client.records(id);
        for (const p of ends.keys()) {
          const offsets = records.filter((r) => r.partition === p).map((r) => r.offset as number);
          assert.deepEqual(offsets, expected(filter, start, p), `${id}, partition ${p}: every record from its start that passes, once, in order`);
        }
      }
      assert.equal(server.gateway.sharedTailSubscriptions(), 40, 'all caught up and served by the shared tail');
      for (const c of clients) c.close();
    } finally {
      await serving.stop();
    }
  });
});
