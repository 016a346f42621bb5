/**
 * Flow control of the WebSocket gateway (docs/protocol.md, "Flow control"), with real sockets: a client
 * that stops reading gets what its policy says — paused, records dropped oldest first with gap frames,
 * view changes conflated by key, or a `slow_consumer` disconnect — while a fast client on the same
 * data receives everything, and the slow connection's send buffer on the server stays bounded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { RunningServer } from '../../src/serve/server.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';
import { WsClient, type Frame } from '../helpers/ws.js';

const MAX_BUFFERED = 256 << 10;
const BATCH = 50;
const PAD = 'x'.repeat(1000);

describe('WebSocket flow control', () => {
  let serving: Serving;
  let log: EmbeddedLog;
  let server: RunningServer;
  let wsUrl: string;

  before(async () => {
    serving = await startServing({ gateway: { batch: BATCH, maxBuffered: MAX_BUFFERED } });
    ({ log, server, wsUrl } = serving);
  });

  after(async () => {
    await serving.stop();
  });

  /** Appends `n` records of about 1 KB to `topic` while sampling the largest send buffer of a connection. */
  async function produce(topic: string, n: number, key = (i: number) => `k${i % 10}`, pad = PAD): Promise<number> {
    let peak = 0;
    const sample = setInterval(() => { peak = Math.max(peak, server.gateway.maxBufferedBytes()); }, 2);
    try {
      for (let i = 0; i < n; i += 500) {
        await log.append(topic, Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ key: key(i + j), value: { n: i + j, pad } })));
        await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      clearInterval(sample);
    }
    return peak;
  }

  /** The bound a connection's buffer may reach: the limit, plus the frame that crossed it. */
  const bound = (partitions: number) => MAX_BUFFERED + partitions * BATCH * (PAD.length + 200);

  async function slowAndFast(topic: string, flow: string): Promise<{ slow: WsClient; fast: WsClient }> {
    const slow = await WsClient.connect(wsUrl);
    const fast = await WsClient.connect(wsUrl);
    slow.send({ type: 'subscribe', id: 's', topic, from: 'latest', flow });
    fast.send({ type: 'subscribe', id: 'f', topic, from: 'latest' });
    await slow.next('subscribed', (f) => f.type === 'subscribed');
    await fast.next('subscribed', (f) => f.type === 'subscribed');
    slow.pauseReading();
    return { slow, fast };
  }

  test("'pause': the slow subscriber waits, loses nothing, and the fast one gets everything meanwhile", async () => {
    await log.createTopic('paused', { partitions: 2 });
    const { slow, fast } = await slowAndFast('paused', 'pause');
    const total = 30_000;
    try {
      const peak = await produce('paused', total);
      await waitFor('every record at the fast client', () => fast.records('f').length === total, 30_000);
      assert.ok(slow.records('s').length < total, 'the slow client is behind');
      assert.ok(peak > MAX_BUFFERED / 2, `the slow connection's buffer filled (peak ${peak})`);
      assert.ok(peak <= bound(2), `the slow connection's buffer stayed bounded: ${peak} bytes`);
      slow.resumeReading();
      await waitFor('every record at the slow client', () => slow.records('s').length === total, 30_000);
      for (const p of [0, 1]) {
        const offsets = slow.records('s').filter((r) => r.partition === p).map((r) => r.offset as number);
        assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p}: every record once, in order`);
      }
      assert.equal(slow.frames.filter((f) => f.type === 'gap').length, 0);
    } finally {
      slow.close();
      fast.close();
    }
  });

  test("'drop-oldest': the slow subscriber skips what piled up, told by gap frames, and gets the newest", async () => {
    await log.createTopic('dropping', { partitions: 2 });
    const { slow, fast } = await slowAndFast('dropping', 'drop-oldest');
    const total = 30_000;
    const droppedBefore = server.gateway.droppedRecords;
    try {
      const peak = await produce('dropping', total);
      await waitFor('every record at the fast client', () => fast.records('f').length === total, 30_000);
      assert.ok(peak <= bound(2), `the slow connection's buffer stayed bounded: ${peak} bytes`);
      slow.resumeReading();
      const ends = log.endOffsets('dropping');
      await waitFor('the newest records at the slow client', () => ends.every((end, p) => slow.records('s').some((r) => r.partition === p && r.offset === end - 1)), 30_000);
      const gaps = slow.frames.filter((f) => f.type === 'gap');
      assert.ok(gaps.length > 0, 'records were dropped');
      let dropped = 0;
      for (const [p, end] of ends.entries()) {
        // Records and gaps of a partition cover its offsets exactly once, in order.
        const covered: [number, number][] = [];
        for (const f of slow.frames) {
          if (f.type === 'gap' && f.partition === p) {
            assert.equal(f.reason, 'slow_consumer');
            covered.push([f.from as number, f.to as number]);
            dropped += (f.to as number) - (f.from as number);
          }
          if (f.type === 'records') for (const r of f.records as Frame[]) if (r.partition === p) covered.push([r.offset as number, (r.offset as number) + 1]);
        }
        let at = 0;
        for (const [from, to] of covered) {
          assert.equal(from, at, `partition ${p}: nothing missing or repeated at ${at}`);
          at = to;
        }
        assert.equal(at, end);
      }
      assert.equal(server.gateway.droppedRecords - droppedBefore, dropped, 'the dropped records are counted');
    } finally {
      slow.close();
      fast.close();
    }
  });

  test("'disconnect': the slow subscriber's connection is closed with slow_consumer", async () => {
    await log.createTopic('strict', { partitions: 1 });
    const { slow, fast } = await slowAndFast('strict', 'disconnect');
    const before = server.gateway.slowConsumerDisconnects;
    const total = 20_000;
    try {
      const peak = await produce('strict', total);
      await waitFor('every record at the fast client', () => fast.records('f').length === total, 30_000);
      assert.equal(server.gateway.slowConsumerDisconnects, before + 1);
      assert.ok(peak <= bound(1), `the slow connection's buffer stayed bounded: ${peak} bytes`);
      slow.resumeReading();
      const closed = await slow.closed();
      assert.deepEqual(closed, { code: 4008, reason: 'slow_consumer' });
      const error = slow.frames.find((f) => f.type === 'error');
      assert.equal(error?.code, 'slow_consumer');
      assert.equal(error?.id, 's');
      assert.ok(slow.records('s').length < total);
    } finally {
      fast.close();
    }
  });

  /** A client's rows of view subscription `id`: snapshots replace them, changes update them. */
  function rowsOf(client: WsClient, id: string): Map<string, unknown> {
    const rows = new Map<string, unknown>();
    for (const f of client.frames) {
      if (f.id !== id) continue;
      if (f.type === 'snapshot') {
        if (f.part === 0) rows.clear();
        for (const r of f.rows as Frame[]) rows.set(r.key as string, r.value);
      } else if (f.type === 'changes') {
        for (const c of f.changes as Frame[]) {
          if (c.deleted) rows.delete(c.key as string);
          else rows.set(c.key as string, c.value);
        }
      }
    }
    return rows;
  }

  const viewRows = (name: string) => new Map(server.views.get(name).rows().map((r) => [r.key, r.value]));

  test("views, 'conflate': a slow subscriber gets the latest change per key and ends equal to the view", async () => {
    await log.createTopic('prices', { partitions: 2 });
    server.views.add('prices');
    await log.append('prices', Array.from({ length: 120 }, (_, i) => ({ key: `p${i}`, value: { v: -1 } })));
    await waitFor('the view', () => server.views.get('prices').size === 120);
    const slow = await WsClient.connect(wsUrl);
    const fast = await WsClient.connect(wsUrl);
    const conflatedBefore = server.gateway.conflatedChanges;
    try {
      slow.send({ type: 'subscribe', id: 's', view: 'prices' });
      fast.send({ type: 'subscribe', id: 'f', view: 'prices' });
      // 120 rows in frames of 50: a snapshot in three parts, all at the same positions.
      await slow.next('the whole snapshot', (f) => f.type === 'snapshot' && f.done === true);
      const parts = slow.frames.filter((f) => f.type === 'snapshot');
      assert.deepEqual(parts.map((f) => [f.part, f.rows.length, f.done]), [[0, 50, false], [1, 50, false], [2, 20, true]]);
      assert.equal(rowsOf(slow, 's').size, 120);
      slow.pauseReading();
      // Small changes, so that a batch the view applies fits the fast client's buffer.
      const total = 60_000;
      const peak = await produce('prices', total, (i) => `p${i % 120}`, 'x'.repeat(60));
      // Some rows deleted at the end.
      await log.append('prices', [0, 1, 2].map((i) => ({ key: `p${i}`, value: null })));
      await waitFor('the view applied everything', () => server.views.get('prices').size === 117);
      // The fast client keeps up while the slow one is paused. (Under a loaded machine even it may
      // fall behind for a moment and get conflated changes: its rows, not its count of changes, are
      // what must match.)
      const upToDate = (client: WsClient, id: string) => {
        const got = rowsOf(client, id);
        const view = viewRows('prices');
        return got.size === view.size && [...view].every(([k, v]) => JSON.stringify(got.get(k)) === JSON.stringify(v));
      };
      await waitFor('the fast client equal to the view', () => upToDate(fast, 'f'), 30_000);
      assert.ok(!upToDate(slow, 's'), 'the slow client is behind');
      assert.ok(peak <= MAX_BUFFERED + BATCH * (PAD.length + 200) * 2, `the slow connection's buffer stayed bounded: ${peak} bytes`);
      slow.resumeReading();
      const want = viewRows('prices');
      await waitFor('the slow client equal to the view', () => {
        const got = rowsOf(slow, 's');
        return got.size === want.size && [...want].every(([k, v]) => JSON.stringify(got.get(k)) === JSON.stringify(v));
      }, 30_000);
      assert.deepEqual(rowsOf(fast, 'f'), want);
      const received = slow.frames.filter((f) => f.type === 'changes').reduce((n, f) => n + f.changes.length, 0);
      assert.ok(received < total, `changes were conflated (${received} of ${total + 3} sent)`);
      assert.ok(server.gateway.conflatedChanges > conflatedBefore);
      // The last frame says which positions the client's rows now match.
      assert.deepEqual(slow.frames.filter((f) => f.type === 'changes').at(-1)!.positions, server.views.get('prices').position());
    } finally {
      slow.close();
      fast.close();
    }
  });

  test('views: a client resuming from its positions gets only the changes since, one per key', async () => {
    await log.createTopic('stock', { partitions: 2 });
    server.views.add('stock');
    await log.append('stock', Array.from({ length: 40 }, (_, i) => ({ key: `s${i}`, value: { n: 0 } })));
    await waitFor('the view', () => server.views.get('stock').size === 40);
    const first = await WsClient.connect(wsUrl);
    first.send({ type: 'subscribe', id: 'v', view: 'stock', filter: { where: [{ field: 'n', op: 'lt', value: 100 }] } });
    const snapshot = await first.next('the snapshot', (f) => f.type === 'snapshot' && f.done);
    const held = rowsOf(first, 'v');
    first.socket.terminate();
    // While the client is away: updates (several per key), deletions, and rows leaving the filter.
    for (let round = 1; round <= 5; round++) await log.append('stock', Array.from({ length: 10 }, (_, i) => ({ key: `s${i}`, value: { n: round } })));
    await log.append('stock', [{ key: 's20', value: null }, { key: 's21', value: { n: 500 } }, { key: 'new', value: { n: 7 } }]);
    await waitFor('the view applied everything', () => server.views.get('stock').get('new') !== undefined);
    const again = await WsClient.connect(wsUrl);
    try {
      again.send({ type: 'subscribe', id: 'v', view: 'stock', from: { offsets: snapshot.positions }, filter: { where: [{ field: 'n', op: 'lt', value: 100 }] } });
      const resumed = await again.next('resumed', (f) => f.type === 'resumed');
      assert.deepEqual(resumed.positions, server.views.get('stock').position());
      await again.next('the changes since', (f) => f.type === 'changes' && f.positions !== undefined);
      assert.equal(again.frames.filter((f) => f.type === 'snapshot').length, 0, 'no snapshot again');
      const changes = again.frames.filter((f) => f.type === 'changes').flatMap((f) => f.changes as Frame[]);
      assert.equal(changes.length, 13, 'one change per key that changed (10 updated, 2 gone, 1 new)');
      for (const c of changes) held.set(c.key as string, c.deleted ? undefined : c.value);
      for (const [k, v] of held) if (v === undefined) held.delete(k);
      const want = new Map([...viewRows('stock')].filter(([, v]) => (v as { n: number }).n < 100));
      assert.deepEqual(held, want);
      // Positions the view cannot resume from (not one per partition) give a snapshot instead.
      again.send({ type: 'subscribe', id: 'w', view: 'stock', from: { offsets: [0] } });
      const fresh = await again.next('a snapshot', (f) => f.type === 'snapshot' && f.id === 'w' && f.done);
      assert.equal(rowsOf(again, 'w').size, server.views.get('stock').size);
      assert.deepEqual(fresh.positions, server.views.get('stock').position());
    } finally {
      again.close();
    }
  });

  test("views, 'conflate': a large backlog goes out a frame at a time, the buffer stays bounded", async () => {
    await log.createTopic('wide', { partitions: 1 });
    server.views.add('wide');
    const slow = await WsClient.connect(wsUrl);
    try {
      slow.send({ type: 'subscribe', id: 's', view: 'wide' });
      await slow.next('the snapshot', (f) => f.type === 'snapshot' && f.done);
      slow.pauseReading();
      const keys = 10_000;
      for (let i = 0; i < keys; i += 500) await log.append('wide', Array.from({ length: 500 }, (_, j) => ({ key: `k${i + j}`, value: { pad: PAD } })));
      await waitFor('the view applied everything', () => server.views.get('wide').size === keys, 30_000);
      let peak = 0;
      const sample = setInterval(() => { peak = Math.max(peak, server.gateway.maxBufferedBytes()); }, 1);
      slow.resumeReading();
      await waitFor('every row at the client', () => rowsOf(slow, 's').size === keys, 30_000);
      clearInterval(sample);
      assert.ok(peak <= bound(1), `the buffer stayed bounded while the backlog went out: ${peak} bytes`);
      assert.ok(slow.frames.filter((f) => f.type === 'changes').every((f) => f.changes.length <= BATCH));
    } finally {
      slow.close();
    }
  });

  test("views, 'disconnect': a client too slow for the snapshot and its changes is disconnected", async () => {
    await log.createTopic('strict-view', { partitions: 1 });
    server.views.add('strict-view');
    for (let i = 0; i < 5_000; i += 500) await log.append('strict-view', Array.from({ length: 500 }, (_, j) => ({ key: `k${i + j}`, value: { pad: PAD } })));
    await waitFor('the view', () => server.views.get('strict-view').size === 5_000, 30_000);
    const before = server.gateway.slowConsumerDisconnects;
    const slow = await WsClient.connect(wsUrl);
    slow.pauseReading();
    slow.send({ type: 'subscribe', id: 'd', view: 'strict-view', flow: 'disconnect' });
    await waitFor('the disconnect', () => server.gateway.slowConsumerDisconnects === before + 1, 30_000);
    slow.resumeReading();
    assert.deepEqual(await slow.closed(), { code: 4008, reason: 'slow_consumer' });
  });

  test('nothing of a subscription comes after its unsubscribed frame', async () => {
    await log.createTopic('backlog', { partitions: 1 });
    server.views.add('backlog');
    for (let i = 0; i < 6_000; i += 500) await log.append('backlog', Array.from({ length: 500 }, (_, j) => ({ key: `k${i + j}`, value: { pad: PAD } })));
    await waitFor('the view', () => server.views.get('backlog').size === 6_000);
    const client = await WsClient.connect(wsUrl);
    try {
      client.pauseReading();
      client.send({ type: 'subscribe', id: 'v', view: 'backlog', from: { offsets: [0] } });
      client.send({ type: 'subscribe', id: 't', topic: 'backlog', from: 'earliest', flow: 'drop-oldest' });
      await waitFor('the buffer to fill', () => server.gateway.maxBufferedBytes() > MAX_BUFFERED);
      client.send({ type: 'unsubscribe', id: 'v' });
      client.send({ type: 'unsubscribe', id: 't' });
      await new Promise((r) => setTimeout(r, 200));
      client.resumeReading();
      await client.next('both unsubscribed', () => client.frames.filter((f) => f.type === 'unsubscribed').length === 2);
      await new Promise((r) => setTimeout(r, 300));
      for (const id of ['v', 't']) {
        const at = client.frames.findIndex((f) => f.type === 'unsubscribed' && f.id === id);
        assert.deepEqual(client.frames.slice(at + 1).filter((f) => f.id === id), [], `frames of '${id}' after it ended`);
      }
    } finally {
      client.close();
    }
  });

  test('views: resuming across records that compaction removed gives a snapshot, not a stale row', async () => {
    await log.createTopic('compacted', { partitions: 1, cleanupPolicy: 'compact', segmentBytes: 1024, deleteRetentionMs: 0 });
    server.views.add('compacted');
    await log.append('compacted', [{ key: 'k1', value: { v: 1, pad: 'x'.repeat(700) } }]);
    await log.append('compacted', [{ key: 'k2', value: { v: 2, pad: 'x'.repeat(700) } }]);
    await waitFor('the view', () => server.views.get('compacted').size === 2);
    const first = await WsClient.connect(wsUrl);
    first.send({ type: 'subscribe', id: 'v', view: 'compacted' });
    const snapshot = await first.next('the snapshot', (f) => f.type === 'snapshot' && f.done);
    first.socket.terminate();
    // k1 deleted, then more records, so that the tombstone's segment is sealed and compacted away.
    await log.append('compacted', [{ key: 'k1', value: null }]);
    for (let i = 0; i < 5; i++) await log.append('compacted', [{ key: 'k3', value: { i, pad: 'x'.repeat(700) } }]);
    await waitFor('the view', () => server.views.get('compacted').get('k1') === undefined && server.views.get('compacted').get('k3')?.value !== undefined);
    await log.runMaintenance();
    assert.ok(log.startOffsets('compacted')[0]! <= snapshot.positions[0], 'the start did not move past the client');
    const again = await WsClient.connect(wsUrl);
    try {
      again.send({ type: 'subscribe', id: 'v', view: 'compacted', from: { offsets: snapshot.positions } });
      await again.next('a snapshot instead', (f) => f.type === 'snapshot' && f.done);
      assert.equal(again.frames.filter((f) => f.type === 'resumed').length, 0);
      assert.deepEqual([...rowsOf(again, 'v').keys()].sort(), server.views.get('compacted').rows().map((r) => r.key));
    } finally {
      again.close();
    }
  });
});
