import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRivulet } from '../../src/cli/node.js';
import type { SavepointManifest } from '../../src/engine/checkpoint/savepoint.js';
import { valueState } from '../../src/engine/keyed-state.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { feed, readAll } from '../helpers/engine.js';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

const counter = (state: 'memory' | 'lmdb') => definePipeline({
  name: 'counter',
  state,
  setup(app) {
    app.stream<{ k: string }>('in', { partitions: 1 })
      .keyBy((e) => e.k)
      .process({
        state: { n: valueState<number>() },
        onEvent(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit({ k: e.k, n });
        },
      })
      .uid('count')
      .to('counts', { partitions: 1 });
  },
});

for (const state of ['memory', 'lmdb'] as const) {
  test(`${state}: \`rivulet savepoint\` writes a self-describing savepoint; starting from it restores that state and position`, async () => {
    const tmp = tempDir();
    const events = (n: number) => Array.from({ length: n }, () => ({ value: { k: 'a' } }));
    let rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [counter(state)] });
    try {
      await feed(rivulet.log, rivulet.engine, 'in', events(10));
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'savepoint', 'counter', '--name', 'ten', '--url', rivulet.url, '--json'], { cwd: root });
      const answer = JSON.parse(stdout) as { savepoint: SavepointManifest; path: string };
      assert.equal(answer.path, path.join(tmp.dir, 'savepoints', 'counter', 'ten'));
      const manifest = JSON.parse(fs.readFileSync(path.join(answer.path, 'savepoint.json'), 'utf8')) as SavepointManifest;
      assert.deepEqual(manifest, answer.savepoint);
      assert.equal(manifest.pipeline, 'counter');
      assert.equal(manifest.state, state);
      assert.deepEqual(manifest.positions, { in: [10] });
      assert.match(manifest.operators.count!, /^process state n:value version 1$/);
      assert.equal(fs.existsSync(path.join(answer.path, 'state', 'data.mdb')), state === 'lmdb');

      const again = await fetch(`${rivulet.url}/v1/pipelines/counter/savepoints`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"ten"}' });
      assert.equal(again.status, 409);
      assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'savepoint_exists');
      const unknown = await fetch(`${rivulet.url}/v1/pipelines/nope/savepoints`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(unknown.status, 404);

      await feed(rivulet.log, rivulet.engine, 'in', events(5));
      await rivulet.stop();
      rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [counter(state)], fromSavepoints: [answer.path] });
      await feed(rivulet.log, rivulet.engine, 'in', []);
      // From the savepoint: the 5 later events are read again, counted on from 10 (not from 15).
      const counts = (await readAll(rivulet.log, 'counts')).map((r) => (r.value as { n: number }).n);
      assert.deepEqual(counts, [...Array.from({ length: 15 }, (_, i) => i + 1), 11, 12, 13, 14, 15]);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });
}

test('a savepoint of another pipeline, or a directory that is none, is refused at start', async () => {
  const tmp = tempDir();
  try {
    fs.mkdirSync(path.join(tmp.dir, 'empty'));
    await assert.rejects(startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [counter('memory')], fromSavepoints: [path.join(tmp.dir, 'empty')] }),
      (e: unknown) => (e as { code?: string }).code === 'invalid_savepoint' && /not a complete savepoint/.test((e as Error).message));
    const sp = path.join(tmp.dir, 'other');
    fs.mkdirSync(sp);
    fs.writeFileSync(path.join(sp, 'savepoint.json'), JSON.stringify({ format: 'rivulet-savepoint', version: 1, pipeline: 'billing' }));
    await assert.rejects(startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [counter('memory')], fromSavepoints: [sp] }), /belongs to pipeline 'billing'/);
  } finally {
    tmp.remove();
  }
});
