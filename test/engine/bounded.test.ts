import assert from 'node:assert/strict';
import { test } from 'node:test';
import { count, sum } from '../../src/engine/aggregates.js';
import { runBounded } from '../../src/engine/bounded.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { tumbling } from '../../src/engine/windows.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { tempDir } from '../helpers/tmp.js';

interface Ev { k: string; ts: number; v: number }

const pipeline = definePipeline({
  name: 'b',
  setup(app) {
    app.stream<Ev>('in', { time: 'ts', outOfOrderness: '2s', partitions: 1 })
      .keyBy((e) => e.k)
      .window(tumbling('5s'))
      .aggregate({ n: count(), total: sum((e: Ev) => e.v) })
      .to('out', { partitions: 1 });
  },
});

test('a bounded run gives what a live run over the log gives, plus the windows the end of input closes', async () => {
  let seed = 5;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const events: Ev[] = Array.from({ length: 500 }, (_, i) => ({ k: `k${Math.floor(rand() * 4)}`, ts: i * 100 + Math.floor(rand() * 3000), v: i }));

  const held = runBounded(pipeline, { in: events }, { atEnd: 'hold', batchSize: 37 });
  const flushed = runBounded(pipeline, { in: events });
  const tmp = tempDir();
  const { log, engine, stop } = await startEngine(tmp.dir, [pipeline]);
  try {
    await feed(log, engine, 'in', events.map((e) => ({ value: e })));
    const live = (await readAll(log, 'out')).map((r) => r.value);
    assert.ok(live.length > 10);
    assert.deepEqual(held.outputs.get('out')!.map((r) => r.value), live);
    assert.equal(held.lateEvents, engine.status()[0]!.lateEvents);
  } finally {
    await stop();
    tmp.remove();
  }
  const all = flushed.outputs.get('out')!.map((r) => r.value as { n: number });
  assert.equal(all.reduce((a, r) => a + r.n, 0) + flushed.lateEvents, events.length, 'every event is in a window or late');
  assert.ok(all.length > held.outputs.get('out')!.length);
  assert.throws(() => runBounded(pipeline, {}), /no input given for topic 'in'/);
});

test('the filters, maps and keyBys right after a source run as events are read, each branch on its own value', () => {
  interface Reading { sensor: string; ts: number; celsius: number }
  const readings: Reading[] = Array.from({ length: 300 }, (_, i) => ({ sensor: `s${i % 3}`, ts: i * 50, celsius: (i * 7) % 40 }));
  const def = definePipeline({
    name: 'branches',
    setup(app) {
      const all = app.stream<Reading>('in', { time: 'ts', outOfOrderness: '0s' });
      // Only filters: the branch passes the source's objects on as they are.
      all.filter((r) => r.celsius > 30).filter((r) => r.sensor !== 's2').to('hot');
      // A map between filters: the later filter and the key see the mapped value; the source's value is unchanged.
      all.filter((r) => r.sensor !== 's0')
        .map((r) => ({ id: r.sensor.toUpperCase(), f: r.celsius * 1.8 + 32 }))
        .filter((f) => f.f >= 50)
        .keyBy((f) => f.id)
        .window(tumbling('5s'))
        .aggregate({ n: count(), total: sum((f: { f: number }) => f.f) })
        .to('fahrenheit');
      // A keyBy then a map: the key stays with the event.
      all.keyBy((r) => r.sensor).map((r) => r.celsius).window(tumbling('5s')).aggregate({ n: count() }).to('per-sensor');
    },
  });
  const { outputs } = runBounded(def, { in: readings }, { batchSize: 17 });

  assert.deepEqual(outputs.get('hot')!.map((r) => r.value), readings.filter((r) => r.celsius > 30 && r.sensor !== 's2'));
  assert.ok(outputs.get('hot')!.every((r, i, all) => i === 0 || r.value !== all[i - 1]!.value));
  assert.equal(readings[0]!.sensor, 's0'); // the maps made new values

  const expected = new Map<string, { key: string; start: number; n: number; total: number }>();
  for (const r of readings) {
    if (r.sensor === 's0') continue;
    const f = r.celsius * 1.8 + 32;
    if (f < 50) continue;
    const id = r.sensor.toUpperCase();
    const start = r.ts - (r.ts % 5000);
    const cell = expected.get(`${id}@${start}`) ?? { key: id, start, n: 0, total: 0 };
    cell.n++;
    cell.total += f;
    expected.set(`${id}@${start}`, cell);
  }
  const got = outputs.get('fahrenheit')!.map((r) => r.value as { key: string; start: number; n: number; total: number });
  assert.equal(got.length, expected.size);
  for (const w of got) {
    const e = expected.get(`${w.key}@${w.start}`)!;
    assert.equal(w.n, e.n);
    assert.ok(Math.abs(w.total - e.total) < 1e-9);
  }
  const perSensor = outputs.get('per-sensor')!.map((r) => r.value as { key: string; n: number });
  assert.deepEqual(new Set(perSensor.map((w) => w.key)), new Set(['s0', 's1', 's2']));
  assert.equal(perSensor.reduce((s, w) => s + w.n, 0), readings.length);
});

test('an event without a valid event time stops a bounded run with an error that names the pipeline and shows the event', () => {
  const byField = definePipeline({ name: 'timed-by-field', setup(app) { app.stream<Ev>('in', { time: 'ts' }).to('out'); } });
  const byFunction = definePipeline({ name: 'timed-by-function', setup(app) { app.stream<Ev>('in', { time: (e) => e.ts }).to('out'); } });
  const good: Ev = { k: 'a', ts: 1_000, v: 1 };
  const bad = { k: 'b', ts: 'yesterday', v: 2 } as unknown as Ev;
  for (const def of [byField, byFunction]) {
    for (const input of [[good, bad], new Set([good, bad])]) {
      assert.throws(() => runBounded(def, { in: input }),
        (err: Error) => err.name === 'PipelineDefinitionError' && err.message.includes(`'${def.name}'`) && err.message.includes('"yesterday"'));
    }
  }
  // ISO-8601 strings and Dates are event times too.
  const iso = { k: 'c', ts: '2026-01-01T00:00:00Z', v: 3 } as unknown as Ev;
  const { outputs } = runBounded(byField, { in: [good, iso] });
  assert.deepEqual(outputs.get('out')!.map((r) => r.timestamp), [1_000, Date.parse('2026-01-01T00:00:00Z')]);
});
