/**
 * `rivulet loadtest` as a user runs it, against a running Rivulet: every subscriber gets every event
 * (or, keyed, the events of its key), with latencies and the server's memory in the report.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { LoadTestReport } from '../../src/cli/loadtest.js';
import { spawnRivulet } from '../helpers/rivulet-process.js';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(url: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'loadtest', '--url', url, '--json', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
}

function loadtest(url: string, args: string[]): LoadTestReport {
  const r = run(url, args);
  assert.equal(r.status, 0, `rivulet loadtest failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as LoadTestReport;
}

test('rivulet loadtest: broadcast and keyed subscribers get what they follow, with latencies and server memory', async () => {
  const tmp = tempDir();
  const rivulet = await spawnRivulet(tmp.dir);
  try {
    const all = loadtest(rivulet.url, ['--subscribers', '30', '--rate', '300', '--duration', '2', '--processes', '2', '--warmup', '0']);
    assert.equal(all.connected, 30);
    assert.ok(all.eventsSent >= 300, `${all.eventsSent} events sent`);
    assert.equal(all.delivered, all.eventsSent * 30, 'every subscriber got every event');
    assert.equal(all.latencySamples, all.delivered, 'without a warm-up every delivery is measured');
    assert.ok(all.latencyMs.p50 !== null && all.latencyMs.p99! >= all.latencyMs.p50 && all.latencyMs.max! >= all.latencyMs.p999!);
    assert.ok(all.serverRssBytes! > 10 * 2 ** 20, `server RSS ${all.serverRssBytes}`);
    assert.deepEqual(all.errors, []);

    const keyed = loadtest(rivulet.url, ['--subscribers', '20', '--keys', '20', '--rate', '200', '--duration', '3', '--topic', 'keyed']);
    assert.equal(keyed.connected, 20);
    assert.equal(keyed.delivered, keyed.eventsSent, 'each event reached the one subscriber of its key');
    // The default warm-up of 1 s of the 3: its events are delivered, but only the later two thirds measured.
    assert.equal(keyed.warmupSeconds, 1);
    const share = keyed.latencySamples / keyed.delivered;
    assert.ok(share > 0.5 && share < 0.85, `${keyed.latencySamples} of ${keyed.delivered} measured`);
    assert.deepEqual(keyed.errors, []);
    // The events were keyed by the query parameter.
    const records = await (await fetch(`${rivulet.url}/v1/topics/keyed/partitions/0/records?limit=3`)).json() as { records: { key: string }[] };
    assert.deepEqual(records.records.map((r) => r.key), ['k0', 'k1', 'k2']);
    const bad = await fetch(`${rivulet.url}/v1/topics/keyed/events?key=a.b`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"key":"x"}]' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /query 'key' must name a field/);

    // A 1 s run has no warm-up unless asked; one as long as the run is refused.
    const short = loadtest(rivulet.url, ['--subscribers', '5', '--rate', '100', '--duration', '1', '--topic', 'keyed']);
    assert.equal(short.warmupSeconds, 0);
    assert.equal(short.latencySamples, short.delivered);
    const tooLong = run(rivulet.url, ['--duration', '2', '--warmup', '2', '--topic', 'never']);
    assert.equal(tooLong.status, 1);
    assert.match(tooLong.stderr, /--warmup must be at least 0 and less than --duration \(2 s\), got 2/);
    assert.equal((await fetch(`${rivulet.url}/v1/topics/never`)).status, 404, 'a refused load test creates no topic');
  } finally {
    await rivulet.stop();
    tmp.remove();
  }
});
