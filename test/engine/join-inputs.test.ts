/**
 * Joins whose inputs do not come straight from a source: a union of branches, or a window. Their
 * results must be those of the events' read order, whatever the batch cuts and the order in which
 * the branches were declared.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { count } from '../../src/engine/aggregates.js';
import { runBounded } from '../../src/engine/bounded.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { tumbling } from '../../src/engine/windows.js';

interface Ev { id: number; kind: 'x' | 'y' | 'r'; ts: number }

test('a union of two branches of one source feeding a join: no event is late by batch cut', () => {
  const pipeline = definePipeline({
    name: 'union-join',
    setup(app) {
      const s = app.stream<Ev>('in', { time: 'ts', outOfOrderness: 0, partitions: 1 });
      const right = s.filter((e) => e.kind === 'r').keyBy(() => 'k');
      const left = s.filter((e) => e.kind === 'x').union(s.filter((e) => e.kind === 'y')).keyBy(() => 'k');
      left.intervalJoin(right, { before: 1000, after: 1000, lateOutput: 'late' }, (l, r) => `${l.id}:${r.id}`).to('out', { partitions: 1 });
    },
  });
  // In read order y@100 comes first (no watermark yet): it is on time and pairs with both r.
  const events: Ev[] = [{ id: 0, kind: 'y', ts: 100 }, { id: 1, kind: 'r', ts: 150 }, { id: 2, kind: 'x', ts: 1000 }, { id: 3, kind: 'r', ts: 1100 }];
  for (const batchSize of [1, 2, 10]) {
    const r = runBounded(pipeline, { in: events }, { batchSize });
    assert.deepEqual((r.outputs.get('out') ?? []).map((x) => x.value).sort(), ['0:1', '0:3', '2:1', '2:3'], `batch size ${batchSize}`);
    assert.deepEqual(r.outputs.get('late') ?? [], [], `batch size ${batchSize}`);
  }
});

test("a window's results joined with its own source: on time whichever branch was declared first", () => {
  interface Reading { k: string; ts: number }
  const make = (rawFirst: boolean) => definePipeline({
    name: `window-join-${rawFirst}`,
    setup(app) {
      const s = app.stream<Reading>('in', { time: 'ts', outOfOrderness: 0, partitions: 1 });
      const raw1 = rawFirst ? s.keyBy((e) => e.k) : undefined;
      const counts = s.keyBy((e) => e.k).window(tumbling(1000)).aggregate({ n: count() });
      const raw = raw1 ?? s.keyBy((e) => e.k);
      counts.intervalJoin(raw, { before: 5000, after: 5000, lateOutput: 'late' }, (w, e) => `[${w.start},${w.end}) n=${w.n} x ${e.ts}`).to('out', { partitions: 1 });
    },
  });
  const events: Reading[] = [{ k: 'a', ts: 100 }, { k: 'a', ts: 500 }, { k: 'a', ts: 1500 }, { k: 'a', ts: 2500 }];
  const answers = [false, true].map((rawFirst) => {
    const r = runBounded(make(rawFirst), { in: events }, { batchSize: 1 });
    assert.equal(r.lateEvents, 0, `raw branch declared first: ${rawFirst}`);
    return (r.outputs.get('out') ?? []).map((x) => x.value as string).sort();
  });
  assert.equal(answers[0]!.length, 12, 'three windows, each with the four readings');
  assert.deepEqual(answers[1], answers[0]);
});
