import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipelineDefinitionError } from '../../src/core/errors.js';
import { count, sum } from '../../src/engine/aggregates.js';
import { StateSchemaError } from '../../src/engine/checkpoint/state-schema.js';
import { valueState } from '../../src/engine/keyed-state.js';
import { definePipeline, PipelineBuilder } from '../../src/engine/pipeline.js';
import { hopping, tumbling } from '../../src/engine/windows.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { tempDir } from '../helpers/tmp.js';

interface Ev { k: string; ts: number; v: number }

/** A pipeline with a window and a `process` count, named by uid; `variant` changes the code around them. */
function pipeline(variant: 'v1' | 'v2-more-operators' | 'v3-other-aggregates' | 'v4-state-version', state: 'memory' | 'lmdb') {
  return definePipeline({
    name: 'shop',
    state,
    setup(app: PipelineBuilder) {
      let events = app.stream<Ev>('in', { time: 'ts', outOfOrderness: 0, partitions: 1 });
      // v2 puts operators in front: the default ids of everything after them shift, the uids do not.
      if (variant === 'v2-more-operators') events = events.filter((e) => e.v >= 0).map((e) => ({ ...e }));
      const keyed = events.keyBy((e) => e.k);
      const windowed = keyed.window(tumbling('10s'));
      (variant === 'v3-other-aggregates'
        ? windowed.aggregate({ n: count(), biggest: sum((e: Ev) => e.v) })
        : windowed.aggregate({ n: count(), total: sum((e: Ev) => e.v) })
      ).uid('per-window').to('windows', { partitions: 1 });
      keyed.process({
        state: { seen: valueState<number>() },
        stateVersion: variant === 'v4-state-version' ? 2 : 1,
        onEvent(e, ctx) {
          const n = (ctx.state.seen.get() ?? 0) + 1;
          ctx.state.seen.set(n);
          ctx.emit({ k: e.k, n });
        },
      }).uid('seen').to('seen', { partitions: 1 });
      if (variant === 'v2-more-operators') keyed.aggregate({ total: sum((e: Ev) => e.v) }).uid('totals').to('totals', { partitions: 1 });
    },
  });
}

for (const state of ['memory', 'lmdb'] as const) {
  test(`${state}: new pipeline code keeps the state of operators whose uid and state shape are unchanged`, async () => {
    const tmp = tempDir();
    try {
      let run = await startEngine(tmp.dir, [pipeline('v1', state)]);
      await feed(run.log, run.engine, 'in', [{ k: 'a', ts: 1000, v: 1 }, { k: 'a', ts: 2000, v: 2 }, { k: 'b', ts: 3000, v: 5 }].map((value) => ({ value })));
      await run.stop();
      run = await startEngine(tmp.dir, [pipeline('v2-more-operators', state)]);
      await feed(run.log, run.engine, 'in', [{ k: 'a', ts: 4000, v: 3 }, { k: 'a', ts: 15_000, v: 1 }].map((value) => ({ value })));
      // The window [0, 10 s) holds events from both runs; the count of 'a' goes on from 2. (The keys
      // of one window fire in no particular order.)
      assert.deepEqual((await readAll(run.log, 'windows')).map((r) => r.value as { key: string }).sort((x, y) => x.key.localeCompare(y.key)), [
        { key: 'a', start: 0, end: 10_000, n: 3, total: 6 },
        { key: 'b', start: 0, end: 10_000, n: 1, total: 5 },
      ]);
      assert.deepEqual((await readAll(run.log, 'seen')).map((r) => (r.value as { n: number }).n), [1, 2, 1, 3, 4]);
      // The operator new in v2 starts empty.
      assert.deepEqual((await readAll(run.log, 'totals')).map((r) => r.value), [{ key: 'a', total: 4 }]);
      await run.stop();
    } finally {
      tmp.remove();
    }
  });
}

test('a changed state shape under the same uid fails at start, naming the operator and both shapes', async () => {
  for (const variant of ['v3-other-aggregates', 'v4-state-version'] as const) {
    const tmp = tempDir();
    try {
      const run = await startEngine(tmp.dir, [pipeline('v1', 'memory')]);
      await feed(run.log, run.engine, 'in', [{ value: { k: 'a', ts: 1000, v: 1 } }]);
      await run.stop();
      await assert.rejects(startEngine(tmp.dir, [pipeline(variant, 'memory')]), (err: unknown) => {
        assert.ok(err instanceof StateSchemaError, String(err));
        assert.equal(err.code, 'state_schema_mismatch');
        if (variant === 'v3-other-aggregates') {
          assert.equal(err.operator, 'per-window');
          assert.match(err.message, /aggregates n=0,total=0".*"window .*aggregates n=0,biggest=0"/);
        } else {
          assert.equal(err.operator, 'seen');
          assert.match(err.message, /version 1".*version 2"/);
        }
        return true;
      });
    } finally {
      tmp.remove();
    }
  }
});

test('uids are checked as the pipeline is declared', () => {
  const declare = (setup: (app: PipelineBuilder) => void) => () => setup(new PipelineBuilder('p'));
  assert.throws(declare((a) => a.stream<Ev>('in').uid('x')), /a source has no state to name/);
  assert.throws(declare((a) => {
    const k = a.stream<Ev>('in').keyBy((e) => e.k);
    k.aggregate({ n: count() }).uid('same');
    k.aggregate({ m: count() }).uid('same');
  }), (e: unknown) => e instanceof PipelineDefinitionError && /uid\('same'\) is used twice/.test(e.message));
  assert.throws(declare((a) => {
    const agg = a.stream<Ev>('in').keyBy((e) => e.k).aggregate({ n: count() });
    agg.to('out');
    agg.uid('late');
  }), /call it right after the operator/);
  assert.throws(declare((a) => a.stream<Ev>('in').keyBy((e) => e.k).aggregate({ n: count() }).uid('has space')), /uid must be 1-100 of/);
});

/** Hopping windows counted per key, emitting `emit`: final results keep panes, updates whole windows. */
function hoppingCounts(emit: 'final' | 'update', state: 'memory' | 'lmdb') {
  return definePipeline({
    name: 'hop',
    state,
    setup(app: PipelineBuilder) {
      app.stream<Ev>('in', { time: 'ts', outOfOrderness: 0, partitions: 1 }).keyBy((e) => e.k)
        .window(hopping('10s', '5s'), { emit }).aggregate({ n: count(), total: sum((e: Ev) => e.v) }).uid('w').to('out', { partitions: 1 });
    },
  });
}

interface Counted { key: string; start: number; end: number; n: number; total: number }

for (const state of ['memory', 'lmdb'] as const) {
  for (const [from, to] of [['final', 'update'], ['update', 'final']] as const) {
    test(`${state}: hopping windows keep their counts when the emit mode changes from '${from}' to '${to}'`, async () => {
      const tmp = tempDir();
      try {
        let run = await startEngine(tmp.dir, [hoppingCounts(from, state)]);
        // Windows [-5 s, 5 s) and [0, 10 s) get two events each; [-5 s, 5 s) has fired (final) after 6 s.
        await feed(run.log, run.engine, 'in', [{ k: 'a', ts: 1000, v: 1 }, { k: 'a', ts: 2000, v: 2 }, { k: 'a', ts: 6000, v: 4 }].map((value) => ({ value })));
        await run.stop();
        run = await startEngine(tmp.dir, [hoppingCounts(to, state)]);
        await feed(run.log, run.engine, 'in', [{ k: 'a', ts: 7000, v: 8 }, { k: 'a', ts: 30_000, v: 0 }].map((value) => ({ value })));
        const last = new Map<number, Counted>();
        for (const r of await readAll(run.log, 'out')) {
          const w = r.value as Counted;
          last.set(w.start, w);
        }
        assert.deepEqual(last.get(-5000), { key: 'a', start: -5000, end: 5000, n: 2, total: 3 });
        assert.deepEqual(last.get(0), { key: 'a', start: 0, end: 10_000, n: 4, total: 15 });
        assert.deepEqual(last.get(5000), { key: 'a', start: 5000, end: 15_000, n: 2, total: 12 });
        await run.stop();
      } finally {
        tmp.remove();
      }
    });
  }
}
