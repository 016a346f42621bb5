/**
 * WebSocket protocol v1 (docs/protocol.md) against a real server and real sockets: resuming after a
 * dropped connection from the last frame's positions gives exactly the records after them, a start
 * at a time, a `gap` frame when retention removed what a subscriber asked for, heartbeats and the
 * closing of a peer that stops answering pings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Engine } from '../../src/engine/engine.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { tempDir, waitFor } from '../helpers/tmp.js';
import { WsClient, type Frame } from '../helpers/ws.js';

describe('WebSocket protocol v1', () => {
  const tmp = tempDir();
  let log: EmbeddedLog;
  let engine: Engine;
  let server: RunningServer;
  let wsUrl: string;

  before(async () => {
    log = await EmbeddedLog.open({ dir: `${tmp.dir}/log`, maintenanceIntervalMs: 0 });
    engine = new Engine({ log, dataDir: tmp.dir });
    engine.start();
    server = await startServer({ log, engine, host: '127.0.0.1', port: 0, gateway: { batch: 50, heartbeatMs: 200 } });
    wsUrl = `${server.url.replace('http', 'ws')}/v1/ws`;
  });

  after(async () => {
    await server.close();
    await engine.stop();
    await log.close();
    tmp.remove();
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
      assert.deepEqual({ ...gap }, { type: 'gap', id: 'g', partition: 0, from: 5, to: start });
      await waitFor('the records that are left', () => client.records('g').length === 200 - start);
      assert.equal(client.records('g')[0]!.offset, start);
      // The gap comes before any record.
      assert.ok(client.frames.indexOf(gap) < client.frames.findIndex((f) => f.type === 'records'));
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
