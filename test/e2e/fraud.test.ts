import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnRivulet, type RivuletProcess } from '../helpers/rivulet-process.js';
import { tempDir, waitFor } from '../helpers/tmp.js';
import { WsClient } from '../helpers/ws.js';

const post = (url: string, body: string, contentType = 'application/json') =>
  fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('end to end: HTTP ingest → fraud pipeline → alert over WebSocket', () => {
  let tmp: ReturnType<typeof tempDir>;
  let rivulet: RivuletProcess;
  let ws: WsClient;

  before(async () => {
    tmp = tempDir();
    rivulet = await spawnRivulet(tmp.dir, ['--pipeline', 'test/fixtures/fraud-strict.ts']);
    ws = await WsClient.connect(`${rivulet.url.replace('http', 'ws')}/v1/ws`);
  });
  after(async () => {
    ws?.close();
    await rivulet?.stop();
    tmp?.remove();
  });

  test('out-of-order and malformed events in, exactly the expected alert out', async () => {
    ws.send({ type: 'subscribe', id: 'alerts', topic: 'alerts', from: 'earliest' });
    await ws.next('subscribed', (f) => f.type === 'subscribed' && f.id === 'alerts');

    const batch1 = [
      { card: 'A', amount: 100, ts: 10_000 },
      { card: 'B', amount: 100, ts: 20_000 },
      { card: 'A', amount: 100, ts: 50_000 },
      { card: 'A', amount: 100, ts: 5_000 }, // out of order, within the 5 s delay: counts
      { card: 'C', amount: 300, ts: 15_000 },
      { card: 'C', amount: 500, ts: 'yesterday' }, // wrong type of event time
      { card: 'C', amount: 500 }, // no event time
      { card: 'B', amount: 200, ts: 30_000 },
      { card: 'C', amount: 300, ts: 25_000 },
    ];
    const r1 = await post(`${rivulet.url}/v1/topics/payments/events`, JSON.stringify(batch1));
    assert.equal(r1.status, 422);
    const b1 = (await r1.json()) as { error: { code: string; message: string }; accepted: number; offsets: { index: number }[]; rejected: { index: number; code: string; field?: string; message: string }[] };
    assert.equal(b1.error.code, 'invalid_events');
    assert.equal(b1.accepted, 7);
    assert.deepEqual(b1.offsets.map((o) => o.index), [0, 1, 2, 3, 4, 7, 8]);
    assert.deepEqual(b1.rejected.map((r) => [r.index, r.code, r.field]), [[5, 'invalid_event_time', 'ts'], [6, 'invalid_event_time', 'ts']]);
    assert.match(b1.rejected[0]!.message, /'ts' is string "yesterday"/);
    assert.match(b1.rejected[1]!.message, /'ts' is nothing \(the field is missing\)/);

    // NDJSON with one line that is not JSON: the other lines are kept. These move every card's time past the first window.
    const r2 = await post(`${rivulet.url}/v1/topics/payments/events`, '{"card":"A","amount":1,"ts":70000}\n{not json\n{"card":"B","amount":1,"ts":70000}\n{"card":"C","amount":1,"ts":70000}\n', 'application/x-ndjson');
    assert.equal(r2.status, 422);
    const b2 = (await r2.json()) as { accepted: number; rejected: { line: number; code: string }[] };
    assert.equal(b2.accepted, 3);
    assert.deepEqual(b2.rejected.map((r) => [r.line, r.code]), [[2, 'malformed_json']]);

    const first = await ws.next('the alert', (f) => f.type === 'records' && f.id === 'alerts');
    assert.deepEqual(first.records.map((r: { key: string; value: unknown }) => ({ key: r.key, value: r.value })), [
      { key: 'A', value: { card: 'A', reason: 'too_many_payments', payments: 3, total: 300, largest: 100, windowStart: 0, windowEnd: 60_000 } },
    ]);

    // Too late for its window: B would go over 1,000 if this were counted.
    const late = await post(`${rivulet.url}/v1/topics/payments/events`, JSON.stringify({ card: 'B', amount: 900, ts: 40_000 }));
    assert.equal(late.status, 200);
    const advance = await post(`${rivulet.url}/v1/topics/payments/events`, JSON.stringify(['A', 'B', 'C'].map((card) => ({ card, amount: 1, ts: 200_000 }))));
    assert.equal(advance.status, 200);
    const latest = await waitFor('the next card-stats window', async () => {
      const res = await fetch(`${rivulet.url}/v1/views/card-stats/keys/B`);
      const row = (await res.json()) as { value?: { start: number; payments: number } };
      return row.value?.start === 60_000 ? row.value : undefined;
    });
    assert.equal(latest.payments, 1);

    assert.equal(ws.records('alerts').length, 1, 'exactly one alert over the WebSocket');
    const stored = (await (await fetch(`${rivulet.url}/v1/topics/alerts`)).json()) as { endOffsets: number[] };
    assert.equal(stored.endOffsets.reduce((a, b) => a + b, 0), 1, 'exactly one alert in the topic');
    const pipelines = (await (await fetch(`${rivulet.url}/v1/pipelines`)).json()) as { pipelines: { lateEvents: number; state: string }[] };
    assert.equal(pipelines.pipelines[0]!.lateEvents, 1);
    assert.equal(pipelines.pipelines[0]!.state, 'running');

    // The first window of card B as the view holds it had been [0, 60 s) with 2 payments; the view follows the topic.
    const statsA = (await (await fetch(`${rivulet.url}/v1/views/card-stats/keys/A`)).json()) as { key: string; value: { start: number } };
    assert.equal(statsA.key, 'A');
    assert.equal(statsA.value.start, 60_000);
  });

  test('rejected events land in the dead-letter topic with their reason', async () => {
    const meta = (await (await fetch(`${rivulet.url}/v1/topics/_deadletter`)).json()) as { partitions: number };
    const all: { value: { topic: string; code: string; error: string; event: unknown } }[] = [];
    for (let p = 0; p < meta.partitions; p++) {
      const page = (await (await fetch(`${rivulet.url}/v1/topics/_deadletter/partitions/${p}/records?limit=100`)).json()) as { records: typeof all };
      all.push(...page.records);
    }
    const codes = all.map((r) => r.value.code).sort();
    assert.deepEqual(codes, ['invalid_event_time', 'invalid_event_time', 'malformed_json']);
    assert.ok(all.some((r) => JSON.stringify(r.value.event) === JSON.stringify({ card: 'C', amount: 500, ts: 'yesterday' })));
    assert.ok(all.every((r) => r.value.topic === 'payments'));
  });

  test('bad requests get a 4xx with a JSON body that names the problem, and the server keeps running', async () => {
    const expectError = async (res: Response, status: number, code: string, pattern: RegExp) => {
      assert.equal(res.status, status, `${res.url}`);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.match(body.error.message, pattern);
    };
    const before = ((await (await fetch(`${rivulet.url}/v1/topics/payments`)).json()) as { endOffsets: number[] }).endOffsets;

    await expectError(await post(`${rivulet.url}/v1/topics/payments/events`, '[{"card":"A","amount":1,"ts":1}'), 400, 'malformed_json', /not valid JSON.*nothing was appended/);
    await expectError(await post(`${rivulet.url}/v1/topics/payments/events`, ''), 400, 'empty_body', /empty/);
    await expectError(await post(`${rivulet.url}/v1/topics/payments/events`, '[1, "two"]'), 422, 'invalid_events', /must be a JSON object/);
    await expectError(await post(`${rivulet.url}/v1/topics/nope/events`, '{}'), 404, 'unknown_topic', /'nope' does not exist/);
    await expectError(await fetch(`${rivulet.url}/v1/topics/nope/partitions/0/records`), 404, 'unknown_topic', /'nope'/);
    await expectError(await fetch(`${rivulet.url}/v1/topics/payments/partitions/9/records`), 404, 'unknown_partition', /partitions 0-3/);
    await expectError(await fetch(`${rivulet.url}/v1/topics/payments/partitions/0/records?offset=-1`), 400, 'invalid_argument', /offset/);
    await expectError(await fetch(`${rivulet.url}/v1/views/card-stats/keys/nobody`), 404, 'unknown_key', /nobody/);
    await expectError(await fetch(`${rivulet.url}/v1/views/nope/keys/A`), 404, 'unknown_view', /nope/);
    const huge = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ card: 'Z', amount: i, ts: 1_000_000 + i, pad: 'x'.repeat(40) })));
    await expectError(await post(`${rivulet.url}/v1/topics/payments/events`, huge), 413, 'body_too_large', /larger than the limit/);

    const afterAll = ((await (await fetch(`${rivulet.url}/v1/topics/payments`)).json()) as { endOffsets: number[] }).endOffsets;
    assert.deepEqual(afterAll, before, 'rejected requests appended nothing');
    assert.equal((await fetch(`${rivulet.url}/v1/health`)).status, 200);
  });

  test('malformed WebSocket frames get error frames and the connection stays usable', async () => {
    const client = await WsClient.connect(`${rivulet.url.replace('http', 'ws')}/v1/ws`);
    try {
      client.send('this is not json');
      await client.next('error for non-JSON', (f) => f.type === 'error' && f.code === 'invalid_frame' && /not valid JSON/.test(f.message));
      client.send({ type: 'subscribe', id: 'x', topic: 'payments', from: 'yesterday' });
      await client.next('error for a bad from', (f) => f.type === 'error' && f.id === 'x' && /from/.test(f.message));
      client.send({ type: 'subscribe', id: 'y', topic: 'nope' });
      await client.next('error for an unknown topic', (f) => f.type === 'error' && f.id === 'y' && f.code === 'unknown_topic');
      client.send({ type: 'subscribe', id: 'p', topic: 'payments', from: 'earliest' });
      const got = await waitFor('payments records', () => (client.records('p').length >= 14 ? client.records('p') : undefined));
      const keys = new Set(got.map((r) => `${r.partition}:${r.offset}`));
      assert.equal(keys.size, got.length, 'no record twice');
      client.send({ type: 'subscribe', id: 'v', view: 'card-stats' });
      const snap = await client.next('view snapshot', (f) => f.type === 'snapshot' && f.id === 'v');
      assert.deepEqual(snap.rows.map((r: { key: string }) => r.key).sort(), ['A', 'B', 'C']);
    } finally {
      client.close();
    }
  });
});
