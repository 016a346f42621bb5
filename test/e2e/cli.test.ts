import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { spawnRivulet } from '../helpers/rivulet-process.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

describe('rivulet start', () => {
  test('--demo runs the payment generator and the fraud pipeline', async () => {
    const tmp = tempDir();
    const rivulet = await spawnRivulet(tmp.dir, ['--demo']);
    try {
      assert.match(rivulet.output(), /pipelines {2}fraud/);
      const status = await waitFor('the demo pipeline to process events', async () => {
        const body = (await (await fetch(`${rivulet.url}/v1/pipelines`)).json()) as { pipelines: { pipeline: string; state: string; eventsIn: number; watermark: number | null }[] };
        const fraud = body.pipelines.find((p) => p.pipeline === 'fraud');
        return fraud && fraud.eventsIn >= 300 ? fraud : undefined;
      });
      assert.equal(status.state, 'running');
      assert.ok(status.watermark !== null && Math.abs(Date.now() - status.watermark) < 60_000, 'watermark follows the generated event times');
      const page = await fetch(`${rivulet.url}/`);
      assert.match(await page.text(), /<title>Rivulet<\/title>/);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('loads pipelines from a config written with defineConfig', async () => {
    const tmp = tempDir();
    const rivulet = await spawnRivulet(tmp.dir, ['--config', 'test/fixtures/rivulet.config.ts']);
    try {
      assert.match(rivulet.output(), /pipelines {2}fraud/);
      const topics = (await (await fetch(`${rivulet.url}/v1/topics`)).json()) as { topics: { name: string }[] };
      assert.deepEqual(topics.topics.map((t) => t.name), ['_deadletter', 'alerts', 'card-stats', 'payments']);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('a module that is not a pipeline, a missing file and a bad port fail with a clear message', () => {
    const tmp = tempDir();
    try {
      const notPipeline = cli(['start', '--port', '0', '--data', tmp.dir, '--pipeline', 'test/fixtures/not-a-pipeline.ts']);
      assert.equal(notPipeline.status, 1);
      assert.match(notPipeline.stderr, /not-a-pipeline\.ts: default export is not a pipeline/);
      const missing = cli(['start', '--port', '0', '--data', tmp.dir, '--pipeline', 'nope.ts']);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /cannot load nope\.ts: no such file/);
      const badPort = cli(['start', '--port', 'seventy']);
      assert.notEqual(badPort.status, 0);
      assert.match(badPort.stderr, /'seventy' is not a port number/);
    } finally {
      tmp.remove();
    }
  });
});

describe('rivulet worker', () => {
  test('refuses to run without a shared log, without pipelines, or on an unreachable server, saying why', () => {
    const env = { ...process.env };
    delete env.RIVULET_LOG;
    const noLog = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--pipeline', 'test/fixtures/chaos-pipeline.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000, env });
    assert.notEqual(noLog.status, 0);
    assert.match(noLog.stderr, /workers need a shared log/);
    const embedded = cli(['worker', '--log', 'embedded', '--pipeline', 'test/fixtures/chaos-pipeline.ts']);
    assert.notEqual(embedded.status, 0);
    assert.match(embedded.stderr, /workers need a shared log/);
    const noPipeline = cli(['worker', '--log', 'redis://127.0.0.1:1']);
    assert.notEqual(noPipeline.status, 0);
    assert.match(noPipeline.stderr, /give at least one pipeline/);
    const badScheme = cli(['worker', '--log', 'kafka://127.0.0.1:9092', '--pipeline', 'test/fixtures/chaos-pipeline.ts']);
    assert.notEqual(badScheme.status, 0);
    assert.match(badScheme.stderr, /log URL must be 'embedded', nats:\/\/… or redis:\/\/…, got 'kafka:\/\/127\.0\.0\.1:9092'/);
    const unreachable = cli(['worker', '--log', 'nats://127.0.0.1:1', '--pipeline', 'test/fixtures/chaos-pipeline.ts']);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
