/**
 * `rivulet topics …` as a user runs it: the real CLI in a child process, against a running Rivulet
 * (`--url`) and against a stopped data directory (`--data`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { TopicDescription } from '../../src/serve/topic-admin.js';
import { spawnRivulet } from '../helpers/rivulet-process.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsx = import.meta.resolve('tsx');
/** Runs the CLI in `cwd` (default: the project), as `rivulet …` would. */
const cli = (args: string[], env: Record<string, string> = {}, cwd = root) =>
  spawnSync(process.execPath, ['--import', tsx, path.join(root, 'src/cli/main.ts'), ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

/** Runs the CLI and expects it to succeed. */
function ok(args: string[], env?: Record<string, string>, cwd?: string): string {
  const r = cli(args, env, cwd);
  assert.equal(r.status, 0, `rivulet ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Runs the CLI and expects `rivulet: <message>` and exit status 1. */
function fails(args: string[], message: RegExp, env?: Record<string, string>, cwd?: string): void {
  const r = cli(args, env, cwd);
  assert.equal(r.status, 1, `rivulet ${args.join(' ')} should fail:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^rivulet: /);
  assert.match(r.stderr, message);
}


/** Create, list, describe, change and delete, through whichever target `at` names. */
function administer(at: string[]): void {
  const created = ok(['topics', 'create', 'orders', '--partitions', '3', '--config', 'fsync=always', 'retentionMs=7d', 'segmentBytes=16MiB', ...at]);
  assert.match(created, /created topic 'orders'/);
  assert.match(created, /^fsync +always$/m);
  assert.match(created, /^retentionMs +7d$/m);
  ok(['topics', 'create', 'audit', '--config', 'fsync=250ms', '--config', 'cleanupPolicy=compact', ...at]);

  const table = ok(['topics', 'list', ...at]);
  const lines = table.trim().split('\n');
  assert.match(lines[0]!, /^TOPIC +PARTITIONS +RECORDS +SIZE +SEGMENTS +CLEANUP +RETENTION$/);
  assert.match(table, /^audit +4 +0 +0 B +4 +compact +forever$/m);
  assert.match(table, /^orders +3 +0 +0 B +3 +delete +7d$/m);

  const listed = JSON.parse(ok(['topics', 'list', '--json', ...at])) as { topics: TopicDescription[] };
  const orders = listed.topics.find((t) => t.name === 'orders')!;
  assert.deepEqual(orders.config, {
    fsync: 'always', segmentBytes: 16 << 20, segmentMs: 7 * 86_400_000, retentionMs: 7 * 86_400_000,
    retentionBytes: null, cleanupPolicy: 'delete', deleteRetentionMs: 86_400_000,
  });
  assert.deepEqual(listed.topics.find((t) => t.name === 'audit')!.config.fsync, { intervalMs: 250 });

  const described = ok(['topics', 'describe', 'orders', ...at]);
  assert.match(described, /^topic +orders$/m);
  assert.match(described, /^partitions +3$/m);
  assert.match(described, /^segmentBytes +16MiB$/m);
  assert.match(described, /^PARTITION +START +END$/m);
  assert.match(described, /^ +2 +0 +0$/m);

  const changed = JSON.parse(ok(['topics', 'config', 'orders', 'retentionMs=null', 'fsync={"intervalMs":10}', 'retentionBytes=1GiB', '--json', ...at])) as TopicDescription;
  assert.equal(changed.config.retentionMs, null);
  assert.deepEqual(changed.config.fsync, { intervalMs: 10 });
  assert.equal(changed.config.retentionBytes, 1 << 30);
  assert.equal(changed.config.segmentBytes, 16 << 20, 'settings not given keep their values');
  assert.match(ok(['topics', 'describe', 'orders', ...at]), /^retentionBytes +1GiB$/m);

  fails(['topics', 'create', 'orders', ...at], /topic 'orders' already exists/);
  fails(['topics', 'create', 'bad', '--config', 'segmentBytes=12', ...at], /segmentBytes must be an integer from 1024 to 2147483647, got 12/);
  fails(['topics', 'create', 'bad', '--config', 'retention=7d', ...at], /unknown setting 'retention'; the settings are fsync, /);
  fails(['topics', 'config', 'orders', 'partitions=6', ...at], /'partitions' is not a setting/);
  fails(['topics', 'config', 'orders', 'retentionMs=soon', ...at], /retentionMs: expected a duration/);
  fails(['topics', 'describe', 'nope', ...at], /topic 'nope' does not exist/);

  assert.match(ok(['topics', 'delete', 'audit', ...at]), /deleted topic 'audit'/);
  assert.deepEqual(JSON.parse(ok(['topics', 'delete', 'orders', '--json', ...at])), { deleted: 'orders' });
  fails(['topics', 'delete', 'orders', ...at], /topic 'orders' does not exist/);
  assert.equal(ok(['topics', 'list', ...at]).trim(), 'no topics');
}

describe('rivulet topics', () => {
  test('against a running Rivulet (--url), with the admin key of its data directory', async () => {
    const tmp = tempDir();
    const dataDir = path.join(tmp.dir, 'data');
    const rivulet = await spawnRivulet(dataDir, [], { anonymous: false });
    try {
      // Started without auth: the data directory holds the only key, readable by its owner alone.
      const keyFile = path.join(dataDir, 'admin.key');
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      const key = fs.readFileSync(keyFile, 'utf8').trim();
      assert.match(rivulet.output(), /admin key {2}.*admin\.key/);
      // Where no ./data/admin.key is at hand, the CLI needs --token.
      fails(['topics', 'list', '--url', rivulet.url], /this endpoint needs credentials/, {}, dataDir);
      fails(['topics', 'list', '--url', rivulet.url, '--token', 'not-the-key-at-all'], /the API key is not known to this server/);
      // Next to ./data (where `rivulet start` keeps it by default), it finds the key by itself.
      assert.match(ok(['topics', 'list', '--url', rivulet.url], {}, tmp.dir), /_deadletter|no topics/);
      administer(['--url', rivulet.url, '--token', key]);
      // RIVULET_URL and RIVULET_TOKEN are the defaults of --url and --token.
      ok(['topics', 'create', 'by-env'], { RIVULET_URL: rivulet.url, RIVULET_TOKEN: key });
      assert.equal((await fetch(`${rivulet.url}/v1/topics/by-env`)).status, 401);
      assert.ok((await fetch(`${rivulet.url}/v1/topics/by-env`, { headers: { authorization: `Bearer ${key}` } })).ok);
      // The running server holds the data directory: --data says so and points to --url.
      fails(['topics', 'list', '--data', dataDir], /is in use by process \d+: a Rivulet is running on it.*--url/);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('offline on a data directory (--data), which a Rivulet started later serves', async () => {
    const tmp = tempDir();
    try {
      administer(['--data', tmp.dir]);
      ok(['topics', 'create', 'kept', '--partitions', '2', '--config', 'retentionMs=1h', '--data', tmp.dir]);
      const rivulet = await spawnRivulet(tmp.dir);
      try {
        const kept = (await (await fetch(`${rivulet.url}/v1/topics/kept`)).json()) as TopicDescription;
        assert.equal(kept.partitions, 2);
        assert.equal(kept.config.retentionMs, 3_600_000);
      } finally {
        await rivulet.stop();
      }
      fails(['topics', 'list', '--data', path.join(tmp.dir, 'missing')], /the data directory .*missing does not exist/);
      fails(['topics', 'list', '--data', tmp.dir, '--url', 'http://127.0.0.1:7070'], /either --url .* or --data/);
    } finally {
      tmp.remove();
    }
  });

  test('when nothing runs at the URL, it says so and suggests --data', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    fails(['topics', 'list', '--url', url], new RegExp(`no Rivulet is running at ${url.replace(/\./g, '\\.')} \\(connection refused\\).*--data <dir>`));
    const other = await freePort();
    fails(['topics', 'describe', 'x'], new RegExp(`no Rivulet is running at http://127\\.0\\.0\\.1:${other} .*--data`), { RIVULET_URL: `http://127.0.0.1:${other}` });
    fails(['topics', 'list', '--url', 'localhost:7070'], /--url: expected an http:\/\/ or https:\/\/ URL/);
  });
});
