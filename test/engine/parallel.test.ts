import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBounded } from '../../src/engine/bounded.js';
import { runParallel } from '../../src/engine/parallel/run-parallel.js';
import type { OutputRecord } from '../../src/engine/bounded.js';
import { InvalidArgumentError, TaskFailedError } from '../../src/core/errors.js';
import { generateEvents } from '../../examples/nexmark/generator.js';
import { NEXMARK_TOPIC, queries, type QueryName } from '../../examples/nexmark/queries.js';
import { everyWindow, firstPerSecond, hoppingPanes, lateSensors, mixedKeys, twoKeyings, zoneTotals, type Paced, readings, sensorSessions, sensorTotals, type Reading } from '../fixtures/parallel-pipelines.js';

/**
 * A pipeline split over worker threads gives the answer of the same pipeline in one thread: the same
 * records (in another order: each task emits its own keys' results), nothing late that was not late.
 */

const fixtures = new URL('../fixtures/parallel-pipelines.ts', import.meta.url);
const nexmarkModule = new URL('../../examples/nexmark/queries.ts', import.meta.url);

/** Order-insensitive form of output records (without their timestamps when `times` is false). */
function bag(records: readonly OutputRecord[] | undefined, times = true): string[] {
  return (records ?? []).map((r) => JSON.stringify(times ? [r.key, r.value, r.timestamp] : [r.key, r.value])).sort();
}

describe('runParallel', () => {
  test('two keyings in a row (windows feeding windows) give the single-thread answer on 2 and 3 tasks', async () => {
    const input = readings(6000, 11);
    const expected = runBounded(sensorTotals, { readings: input });
    assert.equal(expected.lateEvents, 0);
    assert.ok(expected.outputs.get('per-zone')!.length > 50);
    for (const tasks of [2, 3]) {
      const got = await runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs: { readings: input }, tasks, batchSize: 97 });
      assert.equal(got.eventsIn, input.length);
      assert.equal(got.lateEvents, 0);
      assert.deepEqual(bag(got.outputs.get('per-sensor')), bag(expected.outputs.get('per-sensor')), `per-sensor on ${tasks} tasks`);
      assert.deepEqual(bag(got.outputs.get('per-zone')), bag(expected.outputs.get('per-zone')), `per-zone on ${tasks} tasks`);
      assert.equal(got.counts.get('per-zone'), expected.outputs.get('per-zone')!.length);
      // Keys really moved between tasks, and every task read its share.
      assert.ok(got.tasks.every((t) => t.sent > 0 && t.eventsIn > 0), JSON.stringify(got.tasks));
    }
  });

  test('windows aggregated in two phases: the same results, late events and replacements, far fewer events exchanged', async () => {
    // In order (100 ms apart) but for every 25th reading 15 s behind (late for one window, within the
    // 30 s allowed: a replacement) and every 40th 200 s behind (late for good: the late output).
    // Four sensors: about 25 readings per sensor and window.
    const input: Reading[] = readings(8000, 8, 0).map((r, i) => {
      const ts = 1_700_000_000_000 + i * 100;
      const sensor = `s${i % 4}`;
      if (i % 40 === 39) return { ...r, sensor, ts: ts - 200_000 };
      if (i % 25 === 24) return { ...r, sensor, ts: ts - 15_000 };
      return { ...r, sensor, ts };
    });
    const expected = runBounded(lateSensors, { readings: input });
    assert.ok(expected.lateEvents > 100);
    /** The last result per key and window: replacements may come in other numbers, the final ones not. */
    const finals = (rs: readonly OutputRecord[] | undefined) => {
      const last = new Map<string, unknown>();
      for (const r of rs ?? []) {
        const v = r.value as { key: string; start: number };
        last.set(`${v.key}@${v.start}`, v);
      }
      return [...last].sort(([a], [b]) => (a < b ? -1 : 1));
    };
    const runs = await Promise.all([true, false].map((combine) =>
      runParallel({ pipeline: { module: fixtures, export: 'lateSensors' }, inputs: { readings: input }, tasks: 2, combine })));
    for (const [i, got] of runs.entries()) {
      assert.equal(got.lateEvents, expected.lateEvents, `combine ${i === 0}`);
      assert.deepEqual(bag(got.outputs.get('too-late')), bag(expected.outputs.get('too-late')), `combine ${i === 0}`);
      assert.deepEqual(finals(got.outputs.get('late-totals')), finals(expected.outputs.get('late-totals')), `combine ${i === 0}`);
    }
    const sent = runs.map((r) => r.tasks.reduce((n, t) => n + t.sent, 0));
    assert.ok(sent[0]! * 5 < sent[1]!, `partials sent ${sent[0]}, events sent without combining ${sent[1]}`);
  });

  test('every window kind, random inputs, tasks and batch sizes: the single-thread results', async () => {
    for (let round = 0; round < 4; round++) {
      const seed = 100 + round;
      const input = readings(3000 + round * 700, seed, 1500).map((r) => ({ ...r, sensor: `s${r.zone}` }));
      const expected = runBounded(everyWindow, { readings: input });
      assert.equal(expected.lateEvents, 0);
      const tasks = 2 + (round % 2);
      const batchSize = [13, 250, 1000, 64][round]!;
      const got = await runParallel({ pipeline: { module: fixtures, export: 'everyWindow' }, inputs: { readings: input }, tasks, batchSize });
      assert.equal(got.lateEvents, 0, `seed ${seed}`);
      for (const topic of ['w-tumbling', 'w-hopping', 'w-sliding', 'w-session']) {
        assert.ok((expected.outputs.get(topic)?.length ?? 0) > 20, topic);
        assert.deepEqual(bag(got.outputs.get(topic)), bag(expected.outputs.get(topic)), `${topic}, seed ${seed}, ${tasks} tasks, batches of ${batchSize}`);
      }
    }
  });

  test('hopping windows aggregated in two phases by pane: the single-thread records and late events', async () => {
    // Disorder within the out-of-orderness: nothing is late, in one thread or on any task (with more,
    // each task judges lateness by its own read watermark: other events are late than in one thread).
    for (const [seed, disorder] of [[31, 1500], [32, 1999]] as const) {
      const input = readings(6000, seed, disorder).map((r) => ({ ...r, sensor: `s${r.zone}` }));
      const expected = runBounded(hoppingPanes, { readings: input });
      assert.equal(expected.lateEvents, 0);
      assert.ok(expected.outputs.get('hopping-panes')!.length > 100);
      for (const [tasks, batchSize] of [[2, 97], [3, 1000]] as const) {
        const got = await runParallel({ pipeline: { module: fixtures, export: 'hoppingPanes' }, inputs: { readings: input }, tasks, batchSize });
        const ctx = `seed ${seed}, ${tasks} tasks`;
        assert.equal(got.lateEvents, expected.lateEvents, ctx);
        assert.deepEqual(bag(got.outputs.get('hopping-panes')), bag(expected.outputs.get('hopping-panes')), ctx);
        assert.deepEqual(bag(got.outputs.get('hopping-late')), bag(expected.outputs.get('hopping-late')), ctx);
      }
    }
  });

  test('running aggregates in two phases: the same latest value per key, a fraction of the traffic', async () => {
    const input = readings(9000, 17);
    const expected = runBounded(zoneTotals, { readings: input });
    const latest = (rs: readonly OutputRecord[] | undefined) => JSON.stringify([...new Map((rs ?? []).map((r) => [r.key, r.value]))].sort());
    const runs = await Promise.all([true, false].map((combine) =>
      runParallel({ pipeline: { module: fixtures, export: 'zoneTotals' }, inputs: { readings: input }, tasks: 2, batchSize: 500, combine })));
    for (const got of runs) assert.equal(latest(got.outputs.get('zone-totals')), latest(expected.outputs.get('zone-totals')));
    const sent = runs.map((r) => r.tasks.reduce((n, t) => n + t.sent, 0));
    // 7 zones: at most one partial per zone per batch of 500, against every reading of a zone owned elsewhere.
    assert.ok(sent[0]! * 20 < sent[1]!, `partials ${sent[0]}, events ${sent[1]}`);
  });

  test('a task that reads ahead: its watermarks neither make the other task\'s events late nor run timers ahead of them', async () => {
    // Even events are slow to read, so task 0 lags and task 1's events reach task 0 under later watermarks.
    const paced: Paced[] = Array.from({ length: 8000 }, (_, i) => ({ k: `k${i % 8}`, zone: i % 4, ts: i * 10, slow: i % 2 === 0 }));
    for (const [name, topic, def] of [['twoKeyings', 'zone-counts', twoKeyings], ['firstPerSecond', 'firsts', firstPerSecond]] as const) {
      const expected = runBounded(def, { paced });
      for (const combine of [true, false]) {
        const got = await runParallel({ pipeline: { module: fixtures, export: name }, inputs: { paced }, tasks: 2, batchSize: 50, combine });
        assert.equal(got.lateEvents, expected.lateEvents, `${name}, combine ${combine}`);
        assert.deepEqual(bag(got.outputs.get(topic)), bag(expected.outputs.get(topic)), `${name}, combine ${combine}`);
      }
    }
  });

  test('keys of mixed types group as in one thread: 2 with \'2\', and undefined', async () => {
    const keys = [2, '2', undefined, 'a', 7];
    const paced: Paced[] = Array.from({ length: 500 }, (_, i) => ({ k: keys[i % keys.length], zone: 0, ts: i * 37, slow: false }));
    const expected = runBounded(mixedKeys, { paced });
    const got = await runParallel({ pipeline: { module: fixtures, export: 'mixedKeys' }, inputs: { paced }, tasks: 2 });
    // A group shows the key it first saw, 2 or '2' (which comes first differs between runs): compared as text.
    const groups = (rs: readonly OutputRecord[] | undefined) => (rs ?? []).map((r) => {
      const v = r.value as { key: unknown; start: number; n: number };
      return JSON.stringify([String(v.key), v.start, v.n]);
    }).sort();
    assert.deepEqual(groups(got.outputs.get('key-counts')), groups(expected.outputs.get('key-counts')));
    assert.equal(new Set(groups(expected.outputs.get('key-counts')).map((g) => JSON.parse(g)[0])).size, 4, "groups '2', 'undefined', 'a', '7'");
  });

  test('session windows merge events of one key read by different tasks', async () => {
    const input = readings(5000, 12, 400);
    const expected = runBounded(sensorSessions, { readings: input });
    const got = await runParallel({ pipeline: { module: fixtures, export: 'sensorSessions' }, inputs: { readings: input }, tasks: 2 });
    assert.deepEqual(bag(got.outputs.get('sessions')), bag(expected.outputs.get('sessions')));
    assert.ok(got.tasks.every((t) => t.sent > 0));
  });

  test('an input dealt by the key the pipeline keys by: nothing crosses, the same results', async () => {
    const input = readings(5000, 13, 400);
    const expected = runBounded(sensorSessions, { readings: input });
    const got = await runParallel({
      pipeline: { module: fixtures, export: 'sensorSessions' }, inputs: { readings: input }, tasks: 3,
      dealBy: { readings: (r: Reading) => r.sensor },
    });
    assert.deepEqual(bag(got.outputs.get('sessions')), bag(expected.outputs.get('sessions')));
    assert.deepEqual(got.tasks.map((t) => t.sent), [0, 0, 0]);
    assert.equal(got.eventsIn, input.length);
    // Every sensor's readings went to the task that owns the sensor.
    assert.equal(got.tasks.reduce((n, t) => n + t.eventsIn, 0), input.length);
  });

  test('an input made in each task from a module export, output counts only, three runs in the same threads', async () => {
    const got = await runParallel({
      pipeline: { module: fixtures, export: 'sensorTotals' },
      inputs: { module: fixtures, export: 'readingShares', args: { n: 4000, seed: 5 } },
      tasks: 2,
      outputs: 'count',
      runs: 3,
    });
    const expected = runBounded(sensorTotals, { readings: readings(4000, 5) });
    // Three runs one after the other in the same threads; the counts are those of one run.
    assert.equal(got.runSeconds.length, 3);
    assert.equal(got.seconds, got.runSeconds[2]);
    assert.equal(got.outputs.size, 0);
    assert.equal(got.counts.get('per-zone'), expected.outputs.get('per-zone')!.length);
    assert.equal(got.counts.get('per-sensor'), expected.outputs.get('per-sensor')!.length);
    assert.equal(got.eventsIn, 4000);
  });

  test('values of every kind cross an exchange unchanged', async () => {
    class Point { constructor(readonly x: number) {} }
    const odd: unknown[] = [-0, NaN, Infinity, 2 ** 40 + 0.5, 'é😀', null, true, [1, [2]], new Date(5), new Map([[1, 2]]), new Point(3), { nested: { deep: [1] } }];
    const values = Array.from({ length: 400 }, (_, i) => {
      const v: Record<string, unknown> = { k: i % 17, ts: 1000 + i, n: i % 3 === 0 ? i : i + 0.25, s: `s${i % 5}` };
      if (i % 7 === 0) v.extra = odd[i % odd.length]; // a ninth field: another shape
      if (i % 11 === 0) v.n = `text ${i}`; // a field that changes type
      if (i % 13 === 0) v.s = undefined;
      return v;
    });
    const got = await runParallel({ pipeline: { module: fixtures, export: 'anyValues' }, inputs: { values }, tasks: 3 });
    const byTs = new Map(got.outputs.get('same')!.map((r) => [(r.value as { ts: number }).ts, r.value]));
    assert.equal(byTs.size, values.length);
    for (const v of values) assert.deepStrictEqual(byTs.get(v.ts as number), structuredClone(v), `value with ts ${String(v.ts)}`);
  });

  test('a task that throws fails the run with its error, naming the task', async () => {
    const input = readings(3000, 3).map((r, i) => (i === 2001 ? { ...r, value: -1 } : r));
    await assert.rejects(
      runParallel({ pipeline: { module: fixtures, export: 'throwing' }, inputs: { readings: input }, tasks: 2 }),
      (err: unknown) => err instanceof TaskFailedError && err.code === 'task_failed' && err.task === 1 && /task 1: reading -1 is cursed/.test(err.message),
    );
  });

  test('bad options and modules are refused with the reason', async () => {
    const inputs = { readings: [] };
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs, tasks: 0 }), InvalidArgumentError);
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs, tasks: 1, runs: 0 }), /runs must be a positive integer, got 0/);
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs, tasks: 1, youngGenerationMb: -1 }), /youngGenerationMb must be a positive number, got -1/);
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs: { readings: 'no' as never }, tasks: 1 }),
      /the input of topic 'readings' must be an array/);
    await assert.rejects(runParallel({ pipeline: 'fixtures.ts' as never, inputs, tasks: 1 }), /pipeline must be \{ module, export\? \}/);
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'missing' }, inputs, tasks: 2 }),
      (err: unknown) => err instanceof TaskFailedError && /has no export 'missing'/.test(err.message));
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'notAPipeline' }, inputs, tasks: 1 }), /is not a pipeline/);
    await assert.rejects(runParallel({ pipeline: { module: fixtures, export: 'sensorTotals' }, inputs: { other: [] }, tasks: 1 }),
      /no input given for topic 'readings'/);
    await assert.rejects(runParallel({ pipeline: { module: new URL('./nowhere.ts', fixtures), export: 'x' }, inputs, tasks: 1 }), /cannot load the pipeline module/);
  });
});

describe('Nexmark on 2 tasks equals one thread', () => {
  const events = generateEvents(30_000, { seed: 9 });
  const slow = generateEvents(12_000, { seed: 4, eventsPerSecond: 100 });
  const cases: [QueryName, typeof events][] = [
    ['q0', events], ['q1', events], ['q2', events], ['q3', events], ['q4', events], ['q5', events], ['q6', events],
    ['q7', events], ['q8', slow], ['q9', events], ['q11', slow],
  ];
  for (const [name, input] of cases) {
    test(name, async () => {
      const expected = runBounded(queries[name], { [NEXMARK_TOPIC]: input });
      const got = await runParallel({ pipeline: { module: nexmarkModule, export: name }, inputs: { [NEXMARK_TOPIC]: input }, tasks: 2, batchSize: 500 });
      const topic = name;
      assert.equal(got.lateEvents, 0);
      if (name === 'q4') {
        // A changelog: the order of updates differs between runs; the latest value per category does not.
        const last = (rs: readonly OutputRecord[]) => JSON.stringify([...new Map(rs.map((r) => [r.key, r.value]))].sort());
        assert.equal(last(got.outputs.get(topic)!), last(expected.outputs.get(topic)!));
      } else if (name === 'q3') {
        // A row's time is that of whichever side arrived second: a person and an auction read by
        // different tasks may meet in either order.
        assert.deepEqual(bag(got.outputs.get(topic), false), bag(expected.outputs.get(topic), false));
      } else {
        assert.deepEqual(bag(got.outputs.get(topic)), bag(expected.outputs.get(topic)));
      }
      assert.ok((expected.outputs.get(topic)?.length ?? 0) > 0);
    });
  }
});
