import assert from 'node:assert/strict';
import { test } from 'node:test';
import { count, sum } from '../../src/engine/aggregates.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { session, tumbling } from '../../src/engine/windows.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

interface Ev { k: string; ts: number; v: number }

test('late events go to the late-output topic as they were, and replacements follow within the allowed lateness', async () => {
  const tmp = tempDir();
  const pipeline = definePipeline({
    name: 'late',
    setup(app) {
      app.stream<Ev>('in', { time: 'ts', outOfOrderness: 0, partitions: 1 })
        .keyBy((e) => e.k)
        .window(tumbling('10s'), { allowedLateness: '5s', lateOutput: 'too-late' })
        .aggregate({ n: count(), total: sum((e: Ev) => e.v) })
        .to('out', { partitions: 1 });
    },
  });
  const { log, engine, stop } = await startEngine(tmp.dir, [pipeline]);
  try {
    const events: Ev[] = [
      { k: 'a', ts: 1000, v: 1 },
      { k: 'a', ts: 12000, v: 2 }, // watermark 12000: [0,10s) fires with n=1
      { k: 'a', ts: 2000, v: 10 }, // within 5 s of lateness: replacement n=2
      { k: 'a', ts: 16000, v: 3 }, // watermark 16000 > 9999 + 5000: [0,10s) is closed
      { k: 'a', ts: 3000, v: 100 }, // late: to 'too-late'
    ];
    await feed(log, engine, 'in', events.map((e) => ({ value: e })));
    const out = (await readAll(log, 'out')).map((r) => r.value);
    assert.deepEqual(out, [
      { key: 'a', start: 0, end: 10000, n: 1, total: 1 },
      { key: 'a', start: 0, end: 10000, n: 2, total: 11 },
    ]);
    const late = await readAll(log, 'too-late');
    assert.deepEqual(late.map((r) => ({ key: r.key, value: r.value, ts: r.timestamp })), [{ key: 'a', value: { k: 'a', ts: 3000, v: 100 }, ts: 3000 }]);
    assert.equal(engine.status()[0]!.lateEvents, 1);
  } finally {
    await stop();
    tmp.remove();
  }
});

test('an idle partition stops holding the watermark back after idleTimeout while others are active; without it, windows wait', async () => {
  for (const idleTimeout of [undefined, '300ms'] as const) {
    const tmp = tempDir();
    const pipeline = definePipeline({
      name: 'idle',
      setup(app) {
        app.stream<Ev>('in', { time: 'ts', outOfOrderness: 0, partitions: 2, ...(idleTimeout ? { idleTimeout } : {}) })
          .keyBy((e) => e.k)
          .window(session('1s'))
          .aggregate({ n: count() })
          .to('out', { partitions: 1 });
      },
    });
    const { log, engine, stop } = await startEngine(tmp.dir, [pipeline]);
    try {
      // Partition 1 gets one early event and then nothing; partition 0 moves on to t = 60 s.
      await feed(log, engine, 'in', [{ value: { k: 'quiet', ts: 0, v: 0 }, partition: 1 }]);
      await feed(log, engine, 'in', [1000, 1500, 60_000].map((ts) => ({ value: { k: 'busy', ts, v: 1 }, partition: 0 })));
      if (idleTimeout) {
        // Partition 0 stays active (a record every 50 ms); partition 1 goes idle and stops holding the watermark.
        let ts = 60_000;
        const out = await waitFor('the session of the busy key to fire', async () => {
          await log.append('in', [{ value: { k: 'busy', ts: ts += 10, v: 1 }, partition: 0 }]);
          await new Promise((r) => setTimeout(r, 50));
          const rows = (await readAll(log, 'out')).map((r) => r.value as { key: string; n: number });
          return rows.some((r) => r.key === 'busy') && rows;
        });
        assert.deepEqual(out.find((r) => r.key === 'busy'), { key: 'busy', start: 1000, end: 2500, n: 2 });
        assert.ok(engine.status()[0]!.watermark! >= 60_000);
      } else {
        // The watermark is the minimum over both partitions: 0, so only the quiet key's session [0, 1000) may fire.
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(engine.status()[0]!.watermark, 0);
        assert.deepEqual((await readAll(log, 'out')).map((r) => r.value), []);
      }
    } finally {
      await stop();
      tmp.remove();
    }
  }
});
