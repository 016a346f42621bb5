/**
 * Topic administration over HTTP and the Prometheus metrics, on a real Rivulet (startRivulet, real
 * port, real data directory).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRivulet, type RunningRivulet } from '../../src/cli/node.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { TopicDescription } from '../../src/serve/topic-admin.js';
import { samples } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/tmp.js';

const send = (method: string, body?: unknown): RequestInit =>
  body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };

async function expectError(res: Response, status: number, code: string, message: RegExp): Promise<void> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.match(body.error.message, message);
}


const copy = definePipeline({
  name: 'copy',
  setup(app) {
    app.stream('copy-in').to('copy-out');
  },
});

describe('topics API', () => {
  const tmp = tempDir();
  let rivulet: RunningRivulet;
  let url: string;

  before(async () => {
    rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [copy] });
    url = rivulet.url;
  });
  after(async () => {
    await rivulet.stop();
    tmp.remove();
  });

  test('create with settings, describe, list, change settings, delete', async () => {
    const created = await fetch(`${url}/v1/topics`, send('POST', {
      name: 'orders',
      partitions: 3,
      config: { fsync: 'always', retentionMs: 3_600_000, retentionBytes: 1 << 30, segmentBytes: 1 << 20 },
    }));
    assert.equal(created.status, 201);
    const info = (await created.json()) as TopicDescription;
    assert.equal(info.name, 'orders');
    assert.equal(info.partitions, 3);
    assert.deepEqual(info.config, {
      fsync: 'always', segmentBytes: 1 << 20, segmentMs: 7 * 24 * 3600 * 1000, retentionMs: 3_600_000,
      retentionBytes: 1 << 30, cleanupPolicy: 'delete', deleteRetentionMs: 24 * 3600 * 1000,
    });

    const appended = await fetch(`${url}/v1/topics/orders/events`, send('POST', [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]));
    assert.equal(appended.status, 200);

    const described = (await (await fetch(`${url}/v1/topics/orders`)).json()) as TopicDescription;
    assert.equal(described.partitionDetails.length, 3);
    assert.deepEqual(described.partitionDetails.map((p) => p.partition), [0, 1, 2]);
    assert.equal(described.partitionDetails.reduce((n, p) => n + p.endOffset - p.startOffset, 0), 4);
    assert.deepEqual(described.endOffsets, described.partitionDetails.map((p) => p.endOffset));
    assert.ok(described.bytes! > 0, 'the embedded log reports the bytes stored');
    assert.ok(described.segments! >= 3, 'at least one segment per partition');

    const list = (await (await fetch(`${url}/v1/topics`)).json()) as { topics: TopicDescription[] };
    assert.deepEqual(list.topics.map((t) => t.name), ['_deadletter', 'copy-in', 'copy-out', 'orders']);
    assert.deepEqual(list.topics.find((t) => t.name === 'orders')!.config, described.config);

    const patched = await fetch(`${url}/v1/topics/orders/config`, send('PATCH', { retentionMs: null, fsync: { intervalMs: 50 }, cleanupPolicy: 'compact' }));
    assert.equal(patched.status, 200);
    const after = (await patched.json()) as TopicDescription;
    assert.equal(after.config.retentionMs, null);
    assert.deepEqual(after.config.fsync, { intervalMs: 50 });
    assert.equal(after.config.cleanupPolicy, 'compact');
    assert.equal(after.config.retentionBytes, 1 << 30, 'settings not in the patch keep their values');
    assert.equal(after.partitions, 3);
    assert.deepEqual(((await (await fetch(`${url}/v1/topics/orders`)).json()) as TopicDescription).config, after.config);

    const deleted = await fetch(`${url}/v1/topics/orders`, send('DELETE'));
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), '');
    await expectError(await fetch(`${url}/v1/topics/orders`), 404, 'unknown_topic', /'orders' does not exist/);
    assert.equal(rivulet.log.describeTopic('orders'), undefined);
  });

  test('a wrong setting is refused with 400 naming it, and nothing is created', async () => {
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', config: { segmentBytes: 10 } })), 400, 'invalid_config', /segmentBytes must be an integer from 1024 to 2147483647, got 10/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', config: { fsync: 'sometimes' } })), 400, 'invalid_config', /fsync must be 'always', 'never' or \{ intervalMs/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', config: { retention: 5 } })), 400, 'invalid_config', /unknown setting 'retention'/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', config: { partitions: 2 } })), 400, 'invalid_config', /'config\.partitions' is not a setting/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', partitions: 0 })), 400, 'invalid_argument', /'partitions'/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', config: 'fast' })), 400, 'invalid_argument', /'config' must be a JSON object of topic settings/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'bad', replicas: 3 })), 400, 'invalid_argument', /"replicas"/);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: '-bad' })), 400, 'invalid_topic_name', /'-bad'/);
    await expectError(await fetch(`${url}/v1/topics/bad`), 404, 'unknown_topic', /'bad'/);
  });

  test('creating a topic that exists is 409; unknown topics are 404', async () => {
    assert.equal((await fetch(`${url}/v1/topics`, send('POST', { name: 'twice' }))).status, 201);
    await expectError(await fetch(`${url}/v1/topics`, send('POST', { name: 'twice', partitions: 2 })), 409, 'topic_exists', /'twice' already exists/);
    await expectError(await fetch(`${url}/v1/topics/nope/config`, send('PATCH', { retentionMs: 1000 })), 404, 'unknown_topic', /'nope'/);
    await expectError(await fetch(`${url}/v1/topics/nope`, send('DELETE')), 404, 'unknown_topic', /'nope'/);
  });

  test('a patch cannot change the partitions, and names a wrong setting', async () => {
    assert.equal((await fetch(`${url}/v1/topics`, send('POST', { name: 'fixed', partitions: 2 }))).status, 201);
    await expectError(await fetch(`${url}/v1/topics/fixed/config`, send('PATCH', { partitions: 4 })), 400, 'invalid_config', /'partitions' cannot be changed/);
    await expectError(await fetch(`${url}/v1/topics/fixed/config`, send('PATCH', { retentionBytes: -1 })), 400, 'invalid_config', /retentionBytes must be a positive integer or null, got -1/);
    await expectError(await fetch(`${url}/v1/topics/fixed/config`, send('PATCH', { cleanupPolicy: 'forget' })), 400, 'invalid_config', /cleanupPolicy/);
    await expectError(await fetch(`${url}/v1/topics/fixed/config`, send('PATCH', [1, 2])), 400, 'invalid_argument', /must be a JSON object of topic settings/);
    const info = (await (await fetch(`${url}/v1/topics/fixed`)).json()) as TopicDescription;
    assert.equal(info.partitions, 2);
    assert.equal(info.config.retentionBytes, null, 'a refused patch changes nothing');
  });

  test('a topic that a pipeline reads or writes cannot be deleted (409)', async () => {
    await expectError(await fetch(`${url}/v1/topics/copy-in`, send('DELETE')), 409, 'topic_in_use', /pipeline 'copy'/);
    await expectError(await fetch(`${url}/v1/topics/copy-out`, send('DELETE')), 409, 'topic_in_use', /pipeline 'copy'/);
    await expectError(await fetch(`${url}/v1/topics/_deadletter`, send('DELETE')), 409, 'topic_in_use', /pipeline 'copy'/);
    assert.ok(rivulet.log.describeTopic('copy-in'));
  });

  test('events cannot be written into a topic a pipeline writes (409 topic_owned); its input takes them', async () => {
    await expectError(await fetch(`${url}/v1/topics/copy-out/events`, send('POST', [{ a: 1 }])), 409, 'topic_owned', /topic 'copy-out' is written by pipeline 'copy'/);
    const accepted = await fetch(`${url}/v1/topics/copy-in/events`, send('POST', [{ a: 1 }]));
    assert.equal(accepted.status, 200);
  });

  test('GET /metrics: the log figures per topic and partition, and the process metrics', async () => {
    assert.equal((await fetch(`${url}/v1/topics`, send('POST', { name: 'metered', partitions: 2 }))).status, 201);
    assert.equal((await fetch(`${url}/v1/topics`, send('POST', { name: 'gone', partitions: 1 }))).status, 201);
    const events = Array.from({ length: 10 }, (_, i) => ({ i }));
    assert.equal((await fetch(`${url}/v1/topics/metered/events`, send('POST', events))).status, 200);
    assert.equal((await fetch(`${url}/v1/topics/gone`, send('DELETE'))).status, 204);

    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /# TYPE rivulet_log_corrupt_reads_total counter/);
    assert.equal(samples(text, 'rivulet_log_corrupt_reads_total').get(''), 0);
    assert.equal(samples(text, 'rivulet_log_recovered_truncated_bytes').get(''), 0);

    const bytes = samples(text, 'rivulet_log_topic_bytes');
    assert.ok(rivulet.log instanceof EmbeddedLog);
    const stats = rivulet.log.stats().topics.find((t) => t.name === 'metered')!;
    assert.equal(bytes.get('{topic="metered"}'), stats.bytes);
    assert.ok(stats.bytes > 0);
    assert.equal(samples(text, 'rivulet_log_topic_segments').get('{topic="metered"}'), stats.segments);
    assert.ok(!bytes.has('{topic="gone"}'), 'a deleted topic has no series');

    const ends = samples(text, 'rivulet_log_end_offset');
    const expected = rivulet.log.endOffsets('metered');
    assert.equal(ends.get('{topic="metered",partition="0"}'), expected[0]);
    assert.equal(ends.get('{topic="metered",partition="1"}'), expected[1]);
    assert.equal(expected[0]! + expected[1]!, 10);
    assert.ok(![...ends.keys()].some((k) => k.includes('"gone"')));
    assert.equal(samples(text, 'rivulet_log_start_offset').get('{topic="metered",partition="0"}'), 0);

    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);
  });
});

test('metrics count the bytes cut off at open and the reads refused because of a failed CRC', async () => {
  const tmp = tempDir();
  try {
    let rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'] });
    assert.equal((await fetch(`${rivulet.url}/v1/topics`, send('POST', { name: 'c', partitions: 1, config: { fsync: 'always' } }))).status, 201);
    for (let i = 0; i < 3; i++) {
      assert.equal((await fetch(`${rivulet.url}/v1/topics/c/events`, send('POST', { i, text: 'x'.repeat(200) }))).status, 200);
    }
    await rivulet.stop();

    // Damage the middle of the stored batches (a flipped byte), and leave a torn tail behind them.
    const pdir = path.join(tmp.dir, 'log', 'c', '0');
    const file = path.join(pdir, fs.readdirSync(pdir).find((f) => f.endsWith('.log'))!);
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r+');
    const middle = Math.floor(size / 2);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, middle);
    b[0]! ^= 0xff;
    fs.writeSync(fd, b, 0, 1, middle);
    fs.closeSync(fd);
    fs.appendFileSync(file, Buffer.alloc(13, 7));

    rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'] });
    try {
      let refused = 0;
      for (let offset = 0; offset < 3 && refused === 0; offset++) {
        const res = await fetch(`${rivulet.url}/v1/topics/c/partitions/0/records?offset=${offset}&limit=10`);
        if (res.status !== 200) {
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'corrupt_data');
          refused++;
        }
      }
      assert.equal(refused, 1, 'a read of the damaged batch is refused');
      const text = await (await fetch(`${rivulet.url}/metrics`)).text();
      assert.ok(samples(text, 'rivulet_log_corrupt_reads_total').get('')! >= 1, text);
      assert.equal(samples(text, 'rivulet_log_recovered_truncated_bytes').get(''), 13);
    } finally {
      await rivulet.stop();
    }
  } finally {
    tmp.remove();
  }
});
