import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { count, max, sum } from '../../src/engine/aggregates.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { hopping, session, tumbling, windowStarts, type WindowSpec } from '../../src/engine/windows.js';
import { runBounded } from '../../src/engine/bounded.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { tempDir } from '../helpers/tmp.js';

interface Ev { k: string; ts: number; v: number }

function windowPipeline(spec: WindowSpec, outOfOrderness: number, name = 'w') {
  return definePipeline({
    name,
    checkpointInterval: '1h',
    setup(app) {
      app.stream<Ev>('in', { time: 'ts', outOfOrderness, partitions: 1 })
        .keyBy((e) => e.k)
        .window(spec)
        .aggregate({ n: count(), total: sum((e: Ev) => e.v), top: max((e: Ev) => e.v) })
        .to('out', { partitions: 1 });
    },
  });
}

describe('window assignment', () => {
  test('tumbling windows are aligned to the epoch, negative times included', () => {
    assert.deepEqual(windowStarts(tumbling('10s'), 0), [0]);
    assert.deepEqual(windowStarts(tumbling('10s'), 9999), [0]);
    assert.deepEqual(windowStarts(tumbling('10s'), 10000), [10000]);
    assert.deepEqual(windowStarts(tumbling('10s'), -1), [-10000]);
  });
  test('hopping windows: an event is in size/slide windows', () => {
    assert.deepEqual(windowStarts(hopping('30s', '10s'), 25000), [0, 10000, 20000]);
    assert.throws(() => hopping('25s', '10s'), /multiple of its slide/);
    assert.throws(() => tumbling('soon' as never), /expected a duration/);
  });
});

describe('event-time windows', () => {
  test('fire when the watermark passes their end; out-of-order events within the delay count, later ones are late', async () => {
    const tmp = tempDir();
    const { log, engine, stop } = await startEngine(tmp.dir, [windowPipeline(tumbling('10s'), 5000)]);
    try {
      const events: Ev[] = [
        { k: 'a', ts: 1000, v: 1 },
        { k: 'a', ts: 4000, v: 2 },
        { k: 'b', ts: 2000, v: 10 },
        { k: 'a', ts: 12000, v: 3 }, // watermark 7000
        { k: 'a', ts: 3000, v: 4 }, // out of order, but [0,10s) is still open: counts
        { k: 'a', ts: 14999, v: 5 }, // watermark 9999, the last instant of [0,10s): it fires
        { k: 'b', ts: 5000, v: 100 }, // late: its window has fired
        { k: 'b', ts: 9999, v: 1000 }, // late too, on the boundary
        { k: 'a', ts: 30000, v: 6 }, // watermark 25000: [10s,20s) fires
      ];
      await feed(log, engine, 'in', events.map((e) => ({ value: e })));
      const out = (await readAll(log, 'out')).map((r) => ({ key: r.key, ts: r.timestamp, value: r.value }));
      assert.deepEqual(out, [
        { key: 'a', ts: 9999, value: { key: 'a', start: 0, end: 10000, n: 3, total: 7, top: 4 } },
        { key: 'b', ts: 9999, value: { key: 'b', start: 0, end: 10000, n: 1, total: 10, top: 10 } },
        { key: 'a', ts: 19999, value: { key: 'a', start: 10000, end: 20000, n: 2, total: 8, top: 5 } },
      ]);
      assert.equal(engine.status()[0]!.lateEvents, 2);
      assert.equal(engine.status()[0]!.watermark, 25000);
    } finally {
      await stop();
      tmp.remove();
    }
  });

  for (const [label, spec] of [['tumbling', tumbling(7000)], ['hopping', hopping(9000, 3000)]] as const) {
    test(`random disordered streams: ${label} results equal a brute-force reference over the events that were not late`, async () => {
      let seed = label === 'tumbling' ? 7 : 11;
      const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      for (let round = 0; round < 4; round++) {
        const delay = Math.floor(rand() * 4000);
        const disorder = Math.floor(rand() * 6000);
        const events: Ev[] = [];
        for (let i = 0; i < 400; i++) {
          events.push({ k: `k${Math.floor(rand() * 5)}`, ts: i * 200 + Math.floor(rand() * disorder), v: Math.floor(rand() * 100) });
        }
        // Reference: each event sees the watermark (max time before it − delay); a window is closed once that reaches its end − 1.
        const expected = new Map<string, { key: string; start: number; end: number; n: number; total: number; top: number }>();
        let maxTs = -Infinity;
        let late = 0;
        for (const e of events) {
          const wm = maxTs - delay;
          // Late: every window of the event has closed (a hopping event may still count in its later windows).
          if (windowStarts(spec, e.ts).every((start) => start + spec.size - 1 <= wm)) late++;
          for (const start of windowStarts(spec, e.ts)) {
            if (start + spec.size - 1 <= wm) continue;
            const id = `${start}/${e.k}`;
            const row = expected.get(id) ?? { key: e.k, start, end: start + spec.size, n: 0, total: 0, top: -Infinity };
            row.n++; row.total += e.v; row.top = Math.max(row.top, e.v);
            expected.set(id, row);
          }
          maxTs = Math.max(maxTs, e.ts);
        }
        const finalWm = maxTs - delay;
        const fired = [...expected.values()].filter((r) => r.end - 1 <= finalWm);
        const sortRows = (rows: { start: number; key: string }[]) => rows.sort((a, b) => a.start - b.start || a.key.localeCompare(b.key));

        const tmp = tempDir();
        const { log, engine, stop } = await startEngine(tmp.dir, [windowPipeline(spec, delay)]);
        try {
          // Several appends so that the engine sees the input in more than one batch.
          for (let i = 0; i < events.length; i += 97) await feed(log, engine, 'in', events.slice(i, i + 97).map((e) => ({ value: e })));
          const got = (await readAll(log, 'out')).map((r) => r.value as { start: number; key: string });
          assert.deepEqual(sortRows(got), sortRows(fired), `round ${round}, delay ${delay}, disorder ${disorder}`);
          assert.equal(engine.status()[0]!.lateEvents, late);
        } finally {
          await stop();
          tmp.remove();
        }
      }
    });
  }

  test('a clean restart resumes from the checkpoint: same results as an uninterrupted run, nothing emitted twice', async () => {
    const events: Ev[] = Array.from({ length: 300 }, (_, i) => ({ k: `k${i % 3}`, ts: i * 100, v: i }));
    const run = async (splitAt: number[]) => {
      const tmp = tempDir();
      try {
        let from = 0;
        for (const cut of [...splitAt, events.length]) {
          const { log, engine, stop } = await startEngine(tmp.dir, [windowPipeline(tumbling('2s'), 500)]);
          await feed(log, engine, 'in', events.slice(from, cut).map((e) => ({ value: e })));
          from = cut;
          await stop();
        }
        const { log, stop } = await startEngine(tmp.dir, []);
        const out = (await readAll(log, 'out')).map((r) => r.value);
        await stop();
        return out;
      } finally {
        tmp.remove();
      }
    };
    const clean = await run([]);
    assert.ok(clean.length > 0);
    assert.deepEqual(await run([77, 150, 151, 299]), clean);
  });
});

test('a fired session that an event grows past the watermark emits no result until it fires again', () => {
  const p = definePipeline({
    name: 's',
    setup(app) {
      app.stream<{ k: string; ts: number }>('in', { time: 'ts', outOfOrderness: 0 }).keyBy((e) => e.k)
        .window(session(10), { allowedLateness: 100 }).aggregate({ n: count() }).to('out');
    },
  });
  // [0,10) fires once b@20 moves the watermark; a@5 (within the lateness) would replace it, but a@12 in
  // the same batch grows it to [0,22), past the watermark: that session fires when the watermark gets there.
  const events = [{ k: 'a', ts: 0 }, { k: 'b', ts: 20 }, { k: 'a', ts: 5 }, { k: 'a', ts: 12 }, { k: 'a', ts: 21 }, { k: 'a', ts: 28 }];
  const out = runBounded(p, { in: events }, { batchSize: 5 }).outputs.get('out')!.map((r) => r.value as { key: string });
  assert.deepEqual(out.filter((v) => v.key === 'a'), [
    { key: 'a', start: 0, end: 10, n: 1 },
    { key: 'a', start: 0, end: 38, n: 5 },
  ]);
});

test('a key with two sessions due in one watermark step emits each once', () => {
  // a@100 is due at 109; a@50 (out of order, within the bound) opens an earlier session, due at 59: the
  // key has two timers, and b@300 moves the watermark past both at once. Within the allowed lateness the
  // sessions stay after firing, so a second visit of the key in that step would fire them again.
  const p = definePipeline({
    name: 's2',
    setup(app) {
      app.stream<{ k: string; ts: number }>('in', { time: 'ts', outOfOrderness: 60 }).keyBy((e) => e.k)
        .window(session(10), { allowedLateness: 1000 }).aggregate({ n: count() }).to('out');
    },
  });
  const events = [{ k: 'a', ts: 100 }, { k: 'a', ts: 50 }, { k: 'b', ts: 300 }];
  const out = runBounded(p, { in: events }).outputs.get('out')!.map((r) => r.value);
  assert.deepEqual(out, [
    { key: 'a', start: 50, end: 60, n: 1 },
    { key: 'a', start: 100, end: 110, n: 1 },
    { key: 'b', start: 300, end: 310, n: 1 },
  ]);
});

test('an event of the last key and window that closed in the meantime is late, not added to the closed window', () => {
  // The filtered event moves the watermark past [0,10) without reaching the window; a@6 then finds the
  // window it would join, for the key of the event before it, closed.
  const p = definePipeline({
    name: 't',
    setup(app) {
      app.stream<{ k: string; ts: number }>('in', { time: 'ts', outOfOrderness: 0 }).filter((e) => e.k !== 'skip')
        .keyBy((e) => e.k).window(tumbling(10)).aggregate({ n: count() }).to('out');
    },
  });
  const run = runBounded(p, { in: [{ k: 'a', ts: 5 }, { k: 'skip', ts: 100 }, { k: 'a', ts: 6 }] });
  assert.deepEqual(run.outputs.get('out')!.map((r) => r.value), [{ key: 'a', start: 0, end: 10, n: 1 }]);
  assert.equal(run.lateEvents, 1);
});
