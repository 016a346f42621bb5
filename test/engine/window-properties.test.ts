import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { count, max, sum } from '../../src/engine/aggregates.js';
import { createWindowOperator } from '../../src/engine/compile.js';
import { TimeWindowOperator } from '../../src/engine/operators/time-window.js';
import type { Element, Operator } from '../../src/engine/operators/operator.js';
import {
  countWindow, hopping, resolveWindowOptions, session, sliding, tumbling, windowStarts,
  type EmitMode, type WindowOptions, type WindowSpec,
} from '../../src/engine/windows.js';
import { prng } from '../helpers/prng.js';
import { RestartableState } from '../helpers/restartable-state.js';

/**
 * Window operators against brute-force references: random streams with random disorder, watermark
 * delay, allowed lateness and batch cuts, a checkpoint/restore in the middle. The reference decides
 * lateness event by event from the watermark the event arrived under, then computes every window's
 * value from scratch over the accepted events.
 */

interface Ev { k: string; ts: number; v: number }
interface Row { key: string; start: number; end: number; n: number; total: number; top: number | null; retracted?: true }

const aggregates = { n: count(), total: sum((e: Ev) => e.v), top: max((e: Ev) => e.v) } as unknown as Parameters<typeof createWindowOperator>[5];

function collector(into: Element[]): Operator {
  return { id: 'collect', process: (b) => { into.push(...b); }, watermark() {}, snapshot: () => undefined, restore() {} };
}

function value(key: string, start: number, end: number, evs: Ev[]): Row {
  return { key, start, end, n: evs.length, total: evs.reduce((a, e) => a + e.v, 0), top: evs.length ? Math.max(...evs.map((e) => e.v)) : null };
}

/**
 * Runs the operator over the events in random batches, over a state backend of `kind`, restarting once
 * from a checkpoint (operator snapshot through JSON, the backend recovered as a task does); returns
 * results, late events, final watermark.
 */
async function runOperator(spec: WindowSpec, options: WindowOptions, events: Ev[], delay: number, rand: () => number, kind: 'memory' | 'lmdb' = 'memory',
  /** The operator before the restart, when another than after it (a checkpoint of an earlier layout). */
  first?: (out: Operator, late: Operator, state: RestartableState['state']) => Operator) {
  const results: Element[] = [];
  const late: Element[] = [];
  const resolved = resolveWindowOptions(spec, options);
  const state = new RestartableState(kind);
  const make = () => createWindowOperator('w', [{ op: collector(results), input: 0 }], [{ op: collector(late), input: 0 }], spec, resolved, aggregates, state.state);
  let op = first ? first(collector(results), collector(late), state.state) : make();
  let maxTs = -Infinity;
  let wm = -Infinity;
  const restoreAt = Math.floor(rand() * events.length);
  try {
    for (let i = 0; i < events.length;) {
      const n = 1 + Math.floor(rand() * 40);
      const batch: Element[] = [];
      for (const e of events.slice(i, i + n)) {
        batch.push({ value: e, ts: e.ts, key: e.k, wm });
        maxTs = Math.max(maxTs, e.ts);
        wm = Math.max(wm, maxTs - delay);
      }
      op.process(batch, 0);
      op.watermark(wm);
      i += n;
      if (i >= restoreAt && restoreAt >= 0 && i - n < restoreAt) {
        const snap = JSON.parse(JSON.stringify(op.snapshot())) as unknown;
        await state.checkpoint();
        await state.restart();
        op = make();
        op.restore(snap);
      }
    }
  } finally {
    await state.close();
  }
  return { results: results.map((r) => r.value as Row), lateEvents: late.map((e) => e.value as Ev), metrics: (op as unknown as { metrics: { lateEvents: number } }).metrics, wm };
}

/** The watermark each event arrives under, as the task computes it. */
function arrivalWatermarks(events: Ev[], delay: number): number[] {
  let maxTs = -Infinity;
  let wm = -Infinity;
  return events.map((e) => {
    const at = wm;
    maxTs = Math.max(maxTs, e.ts);
    wm = Math.max(wm, maxTs - delay);
    return at;
  });
}

interface Reference { windows: Map<string, Row>; due: (row: Row) => boolean; late: Ev[] }

function fixedReference(spec: Extract<WindowSpec, { kind: 'tumbling' | 'hopping' }>, L: number, events: Ev[], wms: number[], finalWm: number): Reference {
  const members = new Map<string, { key: string; start: number; evs: Ev[] }>();
  const late: Ev[] = [];
  events.forEach((e, i) => {
    let accepted = false;
    for (const start of windowStarts(spec, e.ts)) {
      if (start + spec.size - 1 + L <= wms[i]!) continue;
      accepted = true;
      const id = `${e.k}/${start}`;
      const m = members.get(id) ?? { key: e.k, start, evs: [] };
      m.evs.push(e);
      members.set(id, m);
    }
    if (!accepted) late.push(e);
  });
  const windows = new Map([...members].map(([id, m]) => [id, value(m.key, m.start, m.start + spec.size, m.evs)]));
  return { windows, late, due: (r) => r.end - 1 <= finalWm };
}

function slidingReference(size: number, L: number, events: Ev[], wms: number[], finalWm: number): Reference {
  const accepted: Ev[] = [];
  const late: Ev[] = [];
  events.forEach((e, i) => (e.ts + L <= wms[i]! ? late : accepted).push(e));
  const windows = new Map<string, Row>();
  for (const e of accepted) {
    const id = `${e.k}/${e.ts - size + 1}`;
    if (windows.has(id)) continue;
    windows.set(id, value(e.k, e.ts - size + 1, e.ts + 1, accepted.filter((x) => x.k === e.k && x.ts > e.ts - size && x.ts <= e.ts)));
  }
  return { windows, late, due: (r) => r.end - 1 <= finalWm };
}

function sessionReference(gap: number, L: number, events: Ev[], wms: number[], finalWm: number): Reference {
  const open = new Map<string, { start: number; end: number; evs: Ev[] }[]>();
  const closed: Row[] = [];
  const late: Ev[] = [];
  events.forEach((e, i) => {
    const wm = wms[i]!;
    const sessions = (open.get(e.k) ?? []).filter((s) => {
      if (s.end - 1 + L > wm) return true;
      closed.push(value(e.k, s.start, s.end, s.evs));
      return false;
    });
    const touching = sessions.filter((s) => s.start <= e.ts + gap && s.end >= e.ts);
    if (touching.length === 0 && e.ts + gap - 1 + L <= wm) {
      late.push(e);
      open.set(e.k, sessions);
      return;
    }
    const merged = { start: e.ts, end: e.ts + gap, evs: [e] };
    for (const s of touching) {
      merged.start = Math.min(merged.start, s.start);
      merged.end = Math.max(merged.end, s.end);
      merged.evs.push(...s.evs);
    }
    open.set(e.k, [...sessions.filter((s) => !touching.includes(s)), merged]);
  });
  for (const [k, sessions] of open) for (const s of sessions) closed.push(value(k, s.start, s.end, s.evs));
  return { windows: new Map(closed.map((r) => [`${r.key}/${r.start}`, r])), late, due: (r) => r.end - 1 <= finalWm };
}

function sortEvs(evs: Ev[]): Ev[] {
  return [...evs].sort((a, b) => a.ts - b.ts || a.k.localeCompare(b.k) || a.v - b.v);
}

/** Applies the results as a changelog keyed by (key, start): the last value wins, a retraction deletes. */
function changelog(results: Row[]): Map<string, Row> {
  const table = new Map<string, Row>();
  for (const r of results) {
    const id = `${r.key}/${r.start}`;
    if (r.retracted) table.delete(id);
    else table.set(id, r);
  }
  return table;
}

function randomEvents(rand: () => number, n: number, disorder: number, keys: number, spacing: number): Ev[] {
  const events: Ev[] = [];
  for (let i = 0; i < n; i++) events.push({ k: `k${Math.floor(rand() * keys)}`, ts: i * spacing + Math.floor(rand() * disorder), v: Math.floor(rand() * 100) });
  return events;
}

const kinds: [string, () => WindowSpec][] = [
  ['tumbling', () => tumbling(7000)],
  ['hopping', () => hopping(9000, 3000)],
  ['sliding', () => sliding(5000)],
  ['session', () => session(1500)],
];

describe('window operators equal brute-force references', () => {
  for (const [label, mkSpec] of kinds) {
    for (const emit of ['final', 'update'] as EmitMode[]) for (const backend of ['memory', 'lmdb'] as const) {
      test(`${label} windows, emit '${emit}', state in ${backend}, random disorder, lateness and batch cuts`, async () => {
        const rand = prng(label.length * 7919 + (emit === 'final' ? 1 : 2));
        for (let round = 0; round < 40; round++) {
          const spec = mkSpec();
          const delay = Math.floor(rand() * 3000);
          const L = rand() < 0.4 ? 0 : Math.floor(rand() * 4000);
          const spacing = label === 'session' ? Math.floor(rand() * 600) + 50 : 200;
          const events = randomEvents(rand, 150 + Math.floor(rand() * 150), Math.floor(rand() * 8000), 1 + Math.floor(rand() * 4), spacing);
          const ctx = `round ${round}: delay ${delay}, lateness ${L}`;
          const run = await runOperator(spec, { allowedLateness: L, emit, lateOutput: 'late' }, events, delay, rand, backend);
          const wms = arrivalWatermarks(events, delay);
          const ref = spec.kind === 'sliding' ? slidingReference(spec.size, L, events, wms, run.wm)
            : spec.kind === 'session' ? sessionReference(spec.gap, L, events, wms, run.wm)
            : fixedReference(spec as Extract<WindowSpec, { kind: 'tumbling' | 'hopping' }>, L, events, wms, run.wm);

          assert.deepEqual(sortEvs(run.lateEvents), sortEvs(ref.late), `late events, ${ctx}`);
          assert.equal(run.metrics.lateEvents, ref.late.length, ctx);
          const table = changelog(run.results);
          for (const [id, row] of ref.windows) {
            if (emit === 'final' && !ref.due(row)) continue;
            assert.deepEqual(table.get(id), row, `window ${id}, ${ctx}`);
          }
          for (const id of table.keys()) assert.ok(ref.windows.has(id), `result for a window that does not exist: ${id}, ${ctx}`);
          if (emit === 'final') {
            for (const r of run.results) assert.ok(r.retracted || r.end - 1 <= run.wm, `final mode emitted an open window ${r.key}/${r.start}, ${ctx}`);
            if (L === 0) {
              const ids = run.results.map((r) => `${r.key}/${r.start}`);
              assert.equal(new Set(ids).size, ids.length, `without lateness each window fires once, ${ctx}`);
            }
          }
        }
      });
    }
  }

  for (const backend of ['memory', 'lmdb'] as const) {
    test(`hopping windows restored from a checkpoint of whole-window cells (before panes), state in ${backend}`, async () => {
      const rand = prng(4242);
      for (let round = 0; round < 30; round++) {
        const spec = hopping(9000, 3000);
        const delay = Math.floor(rand() * 3000);
        const L = rand() < 0.4 ? 0 : Math.floor(rand() * 4000);
        const events = randomEvents(rand, 150 + Math.floor(rand() * 150), Math.floor(rand() * 8000), 1 + Math.floor(rand() * 4), 200);
        const options = { allowedLateness: L, emit: 'final' as const, lateOutput: 'late' };
        const run = await runOperator(spec, options, events, delay, rand, backend, (out, late, state) =>
          new TimeWindowOperator('w', [{ op: out, input: 0 }], [{ op: late, input: 0 }], spec, resolveWindowOptions(spec, options), aggregates, 'events', state));
        const ref = fixedReference(spec, L, events, arrivalWatermarks(events, delay), run.wm);
        const ctx = `round ${round}: delay ${delay}, lateness ${L}`;
        assert.deepEqual(sortEvs(run.lateEvents), sortEvs(ref.late), `late events, ${ctx}`);
        const table = changelog(run.results);
        for (const [id, row] of ref.windows) if (ref.due(row)) assert.deepEqual(table.get(id), row, `window ${id}, ${ctx}`);
        for (const id of table.keys()) assert.ok(ref.windows.has(id), `result for a window that does not exist: ${id}, ${ctx}`);
      }
    });
  }

  for (const backend of ['memory', 'lmdb'] as const) test(`count windows, state in ${backend}: every slide events of a key, the last size of them, in arrival order`, async () => {
    const rand = prng(42);
    for (let round = 0; round < 20; round++) {
      const size = 1 + Math.floor(rand() * 6);
      const slide = 1 + Math.floor(rand() * size);
      const events = randomEvents(rand, 200, 5000, 3, 100);
      const run = await runOperator(countWindow(size, slide), {}, events, 1000, rand, backend);
      const seen = new Map<string, Ev[]>();
      const expected: Row[] = [];
      for (const e of events) {
        const evs = [...(seen.get(e.k) ?? []), e];
        seen.set(e.k, evs);
        if (evs.length % slide === 0) {
          const last = evs.slice(-size);
          expected.push(value(e.k, Math.min(...last.map((x) => x.ts)), Math.max(...last.map((x) => x.ts)) + 1, last));
        }
      }
      assert.deepEqual(run.results, expected, `size ${size}, slide ${slide}`);
    }
  });
});

describe('window options', () => {
  test('count windows refuse event-time options, with a message that says why', () => {
    assert.throws(() => resolveWindowOptions(countWindow(5), { allowedLateness: '1s' }), /count windows follow the order events are read in/);
    assert.throws(() => resolveWindowOptions(tumbling('1s'), { emit: 'sometimes' as EmitMode }), /emit must be 'final' or 'update'/);
    assert.throws(() => countWindow(3, 4), /slide must be an integer in 1..3/);
    assert.throws(() => session(0), /session gap must be greater than 0/);
  });

  test('a session merge that swallows an emitted session retracts its result', () => {
    const results: Element[] = [];
    const op = createWindowOperator('w', [{ op: collector(results), input: 0 }], [], session(1000), resolveWindowOptions(session(1000), { allowedLateness: 10_000 }), aggregates);
    const ev = (ts: number, wm: number): Element => ({ value: { k: 'a', ts, v: 1 }, ts, key: 'a', wm });
    op.process([ev(0, -Infinity), ev(5000, -Infinity)], 0);
    op.watermark(7000); // both sessions [0,1000) and [5000,6000) fire
    op.process([ev(2000, 7000), ev(3500, 7000)], 0); // bridges nothing yet: [2000,3000) and [3500,4500) are separate
    op.process([ev(1000, 7000), ev(3000, 7000), ev(4500, 7000)], 0); // now everything touches: one session [0, 6000)
    const table = changelog(results.map((r) => r.value as Row));
    assert.deepEqual([...table.values()], [{ key: 'a', start: 0, end: 6000, n: 7, total: 7, top: 1 }]);
    assert.ok(results.some((r) => (r.value as Row).retracted && (r.value as Row).start === 5000));
  });
});
