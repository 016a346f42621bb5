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

test('a union of two branches of one source feeding a window and a process: as if there were one branch', () => {
  interface Reading { k: string; kind: 'a' | 'b'; ts: number; v: number }
  const make = (split: boolean) => definePipeline({
    name: `union-window-${split}`,
    setup(app) {
      const s = app.stream<Reading>('in', { time: 'ts', outOfOrderness: 50, partitions: 1 });
      const all = split ? s.filter((e) => e.kind === 'a').union(s.filter((e) => e.kind === 'b')) : s;
      const keyed = all.keyBy((e) => e.k);
      keyed.window(tumbling(1000), { lateOutput: 'late' }).aggregate({ n: count() }).to('counts', { partitions: 1 });
      // A timer per event: fires in event-time order; an event seen after its own timer's time would be late.
      keyed.process<string>({
        onEvent(e, ctx) {
          if (e.ts <= ctx.watermark) ctx.emit(`late ${e.kind}${e.ts}`);
          ctx.timers.atEventTime(e.ts);
        },
      }).to('seen', { partitions: 1 });
    },
  });
  // In order but for small disorder; a's and b's interleaved, so a batch holds both kinds.
  let seed = 3;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const events: Reading[] = Array.from({ length: 400 }, (_, i) => ({ k: `k${i % 3}`, kind: rand() < 0.5 ? 'a' : 'b', ts: i * 20 + Math.floor(rand() * 40), v: i }));
  const reference = runBounded(make(false), { in: events }, { batchSize: 1 });
  assert.equal(reference.lateEvents, 0);
  for (const batchSize of [1, 7, 64, 1000]) {
    const r = runBounded(make(true), { in: events }, { batchSize });
    assert.equal(r.lateEvents, 0, `batch size ${batchSize}`);
    const rows = (topic: string, x: typeof r) => (x.outputs.get(topic) ?? []).map((o) => JSON.stringify(o.value)).sort();
    assert.deepEqual(rows('counts', r), rows('counts', reference), `batch size ${batchSize}`);
    assert.deepEqual(rows('seen', r), [], `batch size ${batchSize}: no event reached the process after its time had passed`);
  }
});

test('a table join fed by a process of one branch sees the table rows of the same read batch first, as without the process', () => {
  interface In { kind: 'order' | 'tier'; user: string; tier?: string; ts: number }
  const def = (withProcess: boolean) => definePipeline({
    name: withProcess ? 'through-process' : 'direct',
    setup(app) {
      const all = app.stream<In>('in', { time: 'ts', outOfOrderness: '0s' });
      const tiers = all.filter((e) => e.kind === 'tier').keyBy((e) => e.user);
      let orders = all.filter((e) => e.kind === 'order').keyBy((e) => e.user);
      // A process that passes every event on: its output goes out at the end of the batch, like a filter's.
      if (withProcess) orders = orders.process<In>({ onEvent(e, ctx) { ctx.emit(e); } }).keyBy((e) => e.user);
      orders.joinTable(tiers, (o, t) => ({ ts: o.ts, tier: t?.tier ?? null }), { type: 'left' }).to('out');
    },
  });
  const events: In[] = [{ kind: 'order', user: 'ann', ts: 1 }, { kind: 'tier', user: 'ann', tier: 'gold', ts: 2 }, { kind: 'order', user: 'ann', ts: 10 }];
  const direct = runBounded(def(false), { in: events }).outputs.get('out')!.map((r) => r.value);
  const viaProcess = runBounded(def(true), { in: events }).outputs.get('out')!.map((r) => r.value);
  assert.deepEqual(viaProcess, direct);
  assert.deepEqual(viaProcess, [{ ts: 1, tier: 'gold' }, { ts: 10, tier: 'gold' }]);
});
