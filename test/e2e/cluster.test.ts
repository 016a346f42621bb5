import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AppendRecord } from '../../src/core/record.js';
import type { Log } from '../../src/log/log.js';
import { partitionForKey } from '../../src/log/partitioner.js';
import { logFromUrl, openLog } from '../../src/log/open-log.js';
import type { RemoteLog } from '../../src/log/remote/remote-log.js';
import { BROKEN, chaosInput, OUTPUTS, prepare, results, runToEnd } from '../helpers/chaos.js';
import { spawnWorker, type WorkerProcess } from '../helpers/rivulet-process.js';
import { startNatsCluster, startRedisServer } from '../helpers/servers.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

/**
 * The cluster test: three `rivulet worker` processes share the crash test's pipeline (four tasks,
 * keyed streams crossing between them) over a shared log while its input arrives in ten parts. One
 * worker is killed with SIGKILL mid-run (and, on NATS, one of the three servers later); the others
 * take its tasks over from their checkpoints. The output topics must end equal, record for record, to
 * one uninterrupted run of the same pipeline in one process on the embedded log.
 */

const ORDERS = 12_000;
const PARTS = 10;
const LEASE_MS = 3000;
const ALL_OUTPUTS = [...OUTPUTS, 'milestones'];

/**
 * Appends records to one partition at the offset `next[partition]` says, going on after failures (a
 * server being killed) without writing anything twice: a retry starts where the partition ends.
 */
async function appendExactly(log: Log, topic: string, partition: number, next: number[], records: AppendRecord[]): Promise<void> {
  let rest = records;
  for (let attempt = 0; rest.length > 0; attempt++) {
    try {
      await log.appendAt(topic, partition, next[partition]!, rest);
      next[partition]! += rest.length;
      return;
    } catch (err) {
      if (attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 250));
      await refresh(log, topic).catch(() => undefined);
      const stored = log.endOffsets(topic)[partition]! - next[partition]!;
      if (stored > 0) {
        rest = rest.slice(stored);
        next[partition]! += stored;
      }
    }
  }
}

/** Brings a server-side log's view of a topic up to date (the embedded log always is). */
async function refresh(log: Log, topic: string): Promise<void> {
  if ('refresh' in log) await (log as RemoteLog).refresh(topic);
}

/** Every output topic as sorted record texts per partition. */
async function outputs(log: Log): Promise<Record<string, string[][]>> {
  const out: Record<string, string[][]> = {};
  for (const topic of ALL_OUTPUTS) {
    await refresh(log, topic);
    out[topic] = [];
    const ends = log.endOffsets(topic);
    for (let p = 0; p < ends.length; p++) {
      const records = [];
      for (let offset = 0; offset < ends[p]!;) {
        const page = await log.read(topic, p, offset, 5000);
        if (page.length === 0) break;
        records.push(...page);
        offset = page.at(-1)!.offset + 1;
      }
      // Which payment of a customer is its 100th depends on how the inputs interleave; the values do not.
      out[topic].push(records.map((r) => JSON.stringify(topic === 'milestones' ? r.value : [r.key, r.timestamp, r.value])).sort());
    }
  }
  return out;
}

async function counts(log: Log): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const topic of ALL_OUTPUTS) {
    await refresh(log, topic);
    out[topic] = log.endOffsets(topic).reduce((a, b) => a + b, 0);
  }
  return out;
}

/**
 * Runs three workers on `url` while the input arrives in parts; `afterPart(k, workers)` may kill
 * things. Returns the outputs once they hold as many records as expected, and the workers.
 */
async function runCluster(url: string, expected: Record<string, string[][]>, afterPart: (k: number, workers: WorkerProcess[]) => Promise<void>) {
  const scratch = tempDir();
  const log = await openLog(logFromUrl(url), scratch.dir);
  const workers: WorkerProcess[] = [];
  try {
    await log.createTopic('orders', { partitions: 4 });
    await log.createTopic('payments', { partitions: 4 });
    const { orders, payments } = chaosInput(ORDERS);
    const next: Record<string, number[]> = { orders: [0, 0, 0, 0], payments: [0, 0, 0, 0] };
    const feed = async (k: number) => {
      const slice = <T>(xs: T[]) => xs.slice(Math.floor((xs.length * k) / PARTS), Math.floor((xs.length * (k + 1)) / PARTS));
      for (const [topic, records] of [['orders', slice(orders)], ['payments', slice(payments)]] as const) {
        for (let p = 0; p < 4; p++) {
          await appendExactly(log, topic, p, next[topic]!, records.filter((r) => (r.partition ?? partitionForKey(r.key!, 4)) === p));
        }
      }
    };
    // Every source has records before the workers start: a source with none is left out of the
    // watermark (docs/semantics.md), and the events of the one fed first would run ahead of the other's.
    await feed(0);
    const args = ['--log', url, '--pipeline', 'test/fixtures/chaos-pipeline.ts', '--lease', String(LEASE_MS)];
    workers.push(...(await Promise.all([0, 1, 2].map((i) => spawnWorker([...args, '--id', `w${i}`])))));
    for (let k = 1; k < PARTS; k++) {
      await feed(k);
      await afterPart(k, workers);
      await new Promise((r) => setTimeout(r, 300));
    }
    const want = Object.fromEntries(Object.entries(expected).map(([t, parts]) => [t, parts.flat().length]));
    await waitFor('the outputs to be complete', async () => {
      // While a server is down, the client's requests may time out: ask again.
      const have = await counts(log).catch(() => undefined);
      return have !== undefined && ALL_OUTPUTS.every((t) => have[t]! >= want[t]!);
    }, 180_000);
    // Anything written twice would show up now or in the comparison.
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    for (const w of workers) await w.stop('SIGTERM');
    return { actual: await outputs(log), workers };
  } catch (err) {
    for (const w of workers) console.error(`--- worker output:\n${w.output()}`);
    throw err;
  } finally {
    for (const w of workers) await w.stop('SIGKILL');
    await log.close();
    scratch.remove();
  }
}

/** Kills (SIGKILL) the worker that holds the most tasks now; returns its index and those tasks. */
async function killBusiest(workers: WorkerProcess[]): Promise<[number, string[]]> {
  const i = workers.map((w, k) => [k, w.holding().length]).sort((a, b) => b[1]! - a[1]!)[0]![0]!;
  const tasks = workers[i]!.holding();
  assert.ok(tasks.length > 0, 'a worker holds tasks');
  await workers[i]!.stop('SIGKILL');
  return [i, tasks];
}

describe('cluster: workers share a pipeline and take over from each other', () => {
  const clean = tempDir();
  let expected: Record<string, string[][]>;
  before(async () => {
    const total = await prepare(clean.dir, ORDERS);
    await results(clean.dir, await runToEnd(clean.dir, total)); // runs to the end and stops
    const log = await openLog({ backend: 'embedded' }, clean.dir);
    try {
      expected = await outputs(log);
    } finally {
      await log.close();
    }
    assert.equal(expected.paid!.flat().length, ORDERS - BROKEN + 4);
  });
  after(() => clean.remove());

  test('NATS JetStream, three servers, R3: a worker killed, then a server killed, mid-run', { timeout: 600_000 }, async () => {
    const cluster = await startNatsCluster(3);
    try {
      const url = `${cluster.url}?replicas=3&namespace=cluster`;
      let killed = -1;
      let killedTasks: string[] = [];
      const { actual, workers } = await runCluster(url, expected, async (k, ws) => {
        if (k === 3) [killed, killedTasks] = await killBusiest(ws);
        if (k === 6) await cluster.servers[2]!.kill();
      });
      for (const task of killedTasks) assert.ok(workers.some((w, i) => i !== killed && w.took().includes(task)), `task ${task} was taken over`);
      for (const topic of ALL_OUTPUTS) assert.deepEqual(actual[topic], expected[topic], `topic '${topic}'`);
    } finally {
      await cluster.stop();
    }
  });

  test('Redis Streams: a worker killed mid-run', { timeout: 600_000 }, async () => {
    const redis = await startRedisServer();
    try {
      let killed = -1;
      let killedTasks: string[] = [];
      const { actual, workers } = await runCluster(`${redis.url}?namespace=cluster`, expected, async (k, ws) => {
        if (k === 4) [killed, killedTasks] = await killBusiest(ws);
      });
      for (const task of killedTasks) assert.ok(workers.some((w, i) => i !== killed && w.took().includes(task)), `task ${task} was taken over`);
      for (const topic of ALL_OUTPUTS) assert.deepEqual(actual[topic], expected[topic], `topic '${topic}'`);
    } finally {
      await redis.stop();
    }
  });
});
