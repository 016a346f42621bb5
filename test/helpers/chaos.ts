/**
 * The crash test's parts, shared by `test/e2e/chaos.test.ts` (20 kills) and `bench/chaos.ts` (100):
 * a deterministic input written into a data directory, runs of `rivulet start` on it killed with
 * SIGKILL at chosen points of progress, and the outputs and views read back for comparison.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AppendRecord } from '../../src/core/record.js';
import { logFromUrl, openLog } from '../../src/log/open-log.js';
import type { ChaosOrder, ChaosPayment } from '../fixtures/chaos-pipeline.js';
import { prng } from './prng.js';
import { waitFor } from './tmp.js';
import { spawnRivulet, type RivuletProcess } from './rivulet-process.js';

export const ORDERS = 150_000;
export const CUSTOMERS = 40;
export const BROKEN = 30;
const END = 1e12;
const PIPELINE = ['--pipeline', 'test/fixtures/chaos-pipeline.ts'];
export const OUTPUTS = ['paid', 'customer-totals', 'customer-sessions', '_deadletter'];
const VIEWS = ['customer-totals', 'customer-running'];

/** Orders every 10 ms of event time, each paid 0–20 s later; a few orders with a broken time; per partition in time order. */
export function chaosInput(count: number): { orders: AppendRecord[]; payments: AppendRecord[] } {
  const rand = prng(42);
  const orders: AppendRecord[] = [];
  const payments: { ts: number; record: AppendRecord }[] = [];
  for (let i = 0; i < count; i++) {
    const ts = 1_000_000 + i * 10;
    const order: ChaosOrder = { id: i, customer: `c${Math.floor(rand() * CUSTOMERS)}`, amount: 1 + Math.floor(rand() * 500), ts };
    // Record timestamps fixed too: both runs' inputs are the same bytes.
    orders.push({ key: String(i), timestamp: ts, value: i % Math.floor(count / BROKEN) === 7 ? { ...order, ts: 'not a time' } : order });
    const pts = ts + Math.floor(rand() * 20_000);
    payments.push({ ts: pts, record: { key: String(i), timestamp: pts, value: { order: i, paid: order.amount, ts: pts } satisfies ChaosPayment } });
  }
  payments.sort((a, b) => a.ts - b.ts);
  // One last event per partition far in the future: the watermark passes every window of the input.
  for (let p = 0; p < 4; p++) {
    orders.push({ partition: p, key: `end-${p}`, timestamp: END, value: { id: -1 - p, customer: 'end', amount: 0, ts: END } });
    payments.push({ ts: END, record: { partition: p, key: `end-${p}`, timestamp: END, value: { order: -1 - p, paid: 0, ts: END } } });
  }
  return { orders, payments: payments.map((p) => p.record) };
}

/** Opens the log a run uses: the embedded one in `dir`, or the one `logUrl` names (`rivulet start --log`). */
function open(dir: string, logUrl: string | undefined) {
  return openLog(logFromUrl(logUrl), dir);
}

/** The `rivulet start` arguments of a run: the pipeline, and the log when it is not the embedded one. */
function startArgs(logUrl: string | undefined): string[] {
  return logUrl === undefined ? PIPELINE : [...PIPELINE, '--log', logUrl];
}

export async function prepare(dir: string, count = ORDERS, logUrl?: string): Promise<number> {
  const { orders, payments } = chaosInput(count);
  const log = await open(dir, logUrl);
  try {
    await log.createTopic('orders', { partitions: 4 });
    await log.createTopic('payments', { partitions: 4 });
    for (let i = 0; i < orders.length; i += 5000) await log.append('orders', orders.slice(i, i + 5000));
    for (let i = 0; i < payments.length; i += 5000) await log.append('payments', payments.slice(i, i + 5000));
  } finally {
    await log.close();
  }
  return orders.length + payments.length;
}

/** What the pipeline's last commit says it has read, from the head of its checkpoint file (0 before the first). */
export function committedEvents(dir: string): number {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, 'checkpoints', 'chaos.json'), 'r');
  } catch {
    return 0;
  }
  try {
    const head = Buffer.alloc(512);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return Number(/"eventsIn":(\d+)/.exec(head.toString('utf8', 0, n))![1]);
  } finally {
    fs.closeSync(fd);
  }
}

/** Resolves once the pipeline in `dir` has committed at least `events` events (polled every 2 ms). */
export async function committed(dir: string, events: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (committedEvents(dir) < events) {
    if (Date.now() > deadline) throw new Error(`the pipeline did not commit ${events} events within 120 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Every output topic as sorted record texts per partition, and the view's rows. */
export async function results(dir: string, rivulet: RivuletProcess, logUrl?: string): Promise<{ topics: Record<string, string[][]>; view: Record<string, unknown>; milestones: string[] }> {
  // A commit is in the checkpoint before its outputs are in the log: wait until the views answer as of
  // the input's end (their watermark), which they reach once they hold the last commit's outputs.
  await waitFor('the views to reach the end of the input', async () => {
    const { views } = (await (await fetch(`${rivulet.url}/v1/views`)).json()) as { views: { name: string; watermark: number | null }[] };
    return VIEWS.every((name) => (views.find((v) => v.name === name)?.watermark ?? 0) >= END - 2000 - 1);
  }, 60_000);
  const view: Record<string, unknown> = {};
  for (const name of VIEWS) {
    for (const customer of [...Array.from({ length: CUSTOMERS }, (_, i) => `c${i}`), 'end']) {
      const res = await fetch(`${rivulet.url}/v1/views/${name}/keys/${customer}`);
      view[`${name}/${customer}`] = res.status === 404 ? null : ((await res.json()) as { value: unknown }).value;
    }
  }
  assert.equal(await rivulet.stop('SIGTERM'), 0);
  const log = await open(dir, logUrl);
  try {
    const topics: Record<string, string[][]> = {};
    for (const topic of OUTPUTS) {
      topics[topic] = [];
      const ends = log.endOffsets(topic);
      for (let p = 0; p < ends.length; p++) {
        const records = [];
        for (let offset = 0; offset < ends[p]!;) {
          const page = await log.read(topic, p, offset, ends[p]! - offset);
          records.push(...page);
          offset = page.at(-1)!.offset + 1;
        }
        assert.equal(records.length, ends[p]);
        topics[topic].push(records.map((r) => JSON.stringify([r.key, r.timestamp, r.value])).sort());
      }
    }
    // Which payment of a customer is its 100th depends on how the inputs interleave; the values do not.
    const milestones: string[] = [];
    const ends = log.endOffsets('milestones');
    for (let p = 0; p < ends.length; p++) for (const r of await log.read('milestones', p, 0, ends[p]!)) milestones.push(JSON.stringify(r.value));
    return { topics, view, milestones: milestones.sort() };
  } finally {
    await log.close();
  }
}

export async function runToEnd(dir: string, total: number, logUrl?: string): Promise<RivuletProcess> {
  const rivulet = await spawnRivulet(dir, startArgs(logUrl));
  await committed(dir, total);
  return rivulet;
}

/**
 * Runs the pipeline on `dir` `kills` times, each killed with SIGKILL a random 0–40 ms after its last
 * commit passed the next of `kills` points spread over 90 % of the input, so that the kills fall
 * anywhere between and during commits. Returns the committed events at each kill.
 */
export async function killRepeatedly(dir: string, total: number, kills: number, seed: number, logUrl?: string): Promise<number[]> {
  const rand = prng(seed);
  const committedAtKill: number[] = [];
  for (let k = 1; k <= kills; k++) {
    const target = Math.floor((total * 0.9 * k) / kills);
    const rivulet = await spawnRivulet(dir, startArgs(logUrl));
    await committed(dir, target);
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 40)));
    await rivulet.stop('SIGKILL');
    committedAtKill.push(committedEvents(dir));
  }
  return committedAtKill;
}

