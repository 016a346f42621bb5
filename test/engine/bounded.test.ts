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
