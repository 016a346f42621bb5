import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Element, Operator } from '../../src/engine/operators/operator.js';
import { IntervalJoinOperator } from '../../src/engine/operators/interval-join.js';
import { TableJoinOperator, type TableJoinMode } from '../../src/engine/operators/table-join.js';
import { WindowJoinOperator } from '../../src/engine/operators/window-join.js';
import { hopping, tumbling, windowStarts } from '../../src/engine/windows.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { prng } from '../helpers/prng.js';
import { RestartableState } from '../helpers/restartable-state.js';

/**
 * Joins against brute-force references, with the watermark each event arrives under as the task
 * computes it (over both inputs), random disorder, batch cuts (a batch holds one input, as a task reads
 * one partition at a time) and a checkpoint/restore in the middle.
 */

interface Ev { id: number; side: 0 | 1; k: string; ts: number; v: number | null }

function collector(into: Element[]): Operator {
  return { id: 'collect', process: (b) => { into.push(...b); }, watermark() {}, snapshot: () => undefined, restore() {} };
}

function randomEvents(rand: () => number, n: number, disorder: number, keys: number): Ev[] {
  return Array.from({ length: n }, (_, id) => ({
    id, side: (rand() < 0.5 ? 0 : 1) as 0 | 1, k: `k${Math.floor(rand() * keys)}`, ts: id * 100 + Math.floor(rand() * disorder), v: Math.floor(rand() * 10),
  }));
}

/** Watermark before each event, and after each. */
function watermarks(events: Ev[], delay: number): { at: number[]; after: number[] } {
  let maxTs = -Infinity;
  let wm = -Infinity;
  const at: number[] = [];
  const after: number[] = [];
  for (const e of events) {
    at.push(wm);
    maxTs = Math.max(maxTs, e.ts);
    wm = Math.max(wm, maxTs - delay);
    after.push(wm);
  }
  return { at, after };
}

/**
 * Feeds the events to the operator `make` builds over a state backend of `kind`; in the middle, a
 * checkpoint and a restart from it. Returns the final watermark.
 */
async function drive(kind: 'memory' | 'lmdb', make: (state: StateBackend) => Operator, events: Ev[], delay: number, rand: () => number): Promise<{ wm: number }> {
  const state = new RestartableState(kind);
  try {
    return await driveOn(state, make, events, delay, rand);
  } finally {
    await state.close();
  }
}

async function driveOn(state: RestartableState, make: (state: StateBackend) => Operator, events: Ev[], delay: number, rand: () => number): Promise<{ wm: number }> {
  let op = make(state.state);
  const { at, after } = watermarks(events, delay);
  const restoreAt = Math.floor(rand() * events.length);
  let i = 0;
  while (i < events.length) {
    const side = events[i]!.side;
    let j = i;
    const limit = i + 1 + Math.floor(rand() * 30);
    while (j < events.length && j < limit && events[j]!.side === side) j++;
    // A table deletion is a null value.
    op.process(events.slice(i, j).map((e, n) => ({ value: e.side === 1 && e.v === null ? null : e, ts: e.ts, key: e.k, wm: at[i + n]! })), side);
    // After every batch, the watermark goes along both input edges (as a task sends it).
    op.watermark(after[j - 1]!, 0);
    op.watermark(after[j - 1]!, 1);
    if (i <= restoreAt && restoreAt < j) {
      const snap = JSON.parse(JSON.stringify(op.snapshot())) as unknown;
      await state.checkpoint();
      await state.restart();
      op = make(state.state);
      op.restore(snap);
    }
    i = j;
  }
  return { wm: after.at(-1) ?? -Infinity };
}

const pairKey = (a: number, b: number) => `${a}:${b}`;

for (const kind of ['memory', 'lmdb'] as const) describe(`joins equal brute-force references (state in ${kind})`, () => {
  test('interval join: every pair of accepted events with the same key within the bounds, once', async () => {
    const rand = prng(3);
    for (let round = 0; round < 40; round++) {
      const delay = Math.floor(rand() * 2000);
      const before = Math.floor(rand() * 1500);
      const after = Math.floor(rand() * 1500);
      const events = randomEvents(rand, 200 + Math.floor(rand() * 100), Math.floor(rand() * 4000), 1 + Math.floor(rand() * 4));
      const out: Element[] = [];
      const late: Element[] = [];
      await drive(kind, (state) => new IntervalJoinOperator('j', [{ op: collector(out), input: 0 }], [{ op: collector(late), input: 0 }], before, after,
        (l, r) => pairKey((l as Ev).id, (r as Ev).id), state), events, delay, rand);
      const { at } = watermarks(events, delay);
      const accepted = events.filter((e, i) => e.ts > at[i]!);
      const expected: string[] = [];
      for (const l of accepted) for (const r of accepted) {
        if (l.side === 0 && r.side === 1 && l.k === r.k && r.ts >= l.ts - before && r.ts <= l.ts + after) expected.push(pairKey(l.id, r.id));
      }
      const ctx = `round ${round}: delay ${delay}, before ${before}, after ${after}`;
      assert.deepEqual(out.map((e) => e.value as string).sort(), expected.sort(), ctx);
      assert.deepEqual(late.map((e) => (e.value as Ev).id).sort((a, b) => a - b), events.filter((e, i) => e.ts <= at[i]!).map((e) => e.id), ctx);
      for (const e of out) {
        const [a, b] = (e.value as string).split(':').map(Number);
        assert.equal(e.ts, Math.max(events[a!]!.ts, events[b!]!.ts));
      }
    }
  });

  for (const [label, spec] of [['tumbling', tumbling(2000)], ['hopping', hopping(3000, 1000)]] as const) {
    test(`window join (${label}): pairs of one key and window, for the windows the watermark closed`, async () => {
      const rand = prng(label.length);
      for (let round = 0; round < 30; round++) {
        const delay = Math.floor(rand() * 2000);
        const events = randomEvents(rand, 200, Math.floor(rand() * 4000), 1 + Math.floor(rand() * 3));
        const out: Element[] = [];
        const late: Element[] = [];
        const run = await drive(kind, (state) => new WindowJoinOperator('j', [{ op: collector(out), input: 0 }], [{ op: collector(late), input: 0 }], spec,
          (l, r, w) => `${(l as Ev).id}:${(r as Ev).id}@${w.start}`, state), events, delay, rand);
        const { at } = watermarks(events, delay);
        const cells = new Map<string, Ev[]>();
        const lateIds: number[] = [];
        events.forEach((e, i) => {
          const open = windowStarts(spec, e.ts).filter((s) => s + spec.size - 1 > at[i]!);
          if (open.length === 0) lateIds.push(e.id);
          for (const s of open) cells.set(`${e.k}@${s}`, [...(cells.get(`${e.k}@${s}`) ?? []), e]);
        });
        const expected: string[] = [];
        for (const [cell, evs] of cells) {
          const start = Number(cell.split('@')[1]);
          if (start + spec.size - 1 > run.wm) continue;
          for (const l of evs) for (const r of evs) if (l.side === 0 && r.side === 1) expected.push(`${l.id}:${r.id}@${start}`);
        }
        assert.deepEqual(out.map((e) => e.value as string).sort(), expected.sort(), `round ${round}, delay ${delay}`);
        assert.deepEqual(late.map((e) => (e.value as Ev).id).sort((a, b) => a - b), lateIds);
      }
    });
  }

  for (const version of ['latest', 'event-time'] as const) {
    for (const type of ['inner', 'left'] as const) {
      test(`table join, version '${version}', type '${type}': each event meets the row it should`, async () => {
        const rand = prng(version.length * 31 + type.length);
        for (let round = 0; round < 30; round++) {
          const delay = Math.floor(rand() * 2000);
          // Side 1 is the table: some updates are deletions (null).
          const events = randomEvents(rand, 250, Math.floor(rand() * 3000), 1 + Math.floor(rand() * 3)).map((e) => (e.side === 1 && rand() < 0.2 ? { ...e, v: null } : e));
          const out: Element[] = [];
          const late: Element[] = [];
          const mode: TableJoinMode = { type, version };
          // Table values are the events' v; the join reports which version (event id) it met.
          const make = (state: StateBackend) => new TableJoinOperator('j', [{ op: collector(out), input: 0 }], [{ op: collector(late), input: 0 }], mode,
            (e, row) => `${(e as Ev).id}:${row === undefined ? '-' : (row as Ev).id}`, state);
          await drive(kind, make, events, delay, rand);
          const { at, after } = watermarks(events, delay);
          const expected: string[] = [];
          const lateIds: number[] = [];
          events.forEach((e, i) => {
            if (e.side === 1 && version === 'event-time' && e.ts <= at[i]!) lateIds.push(e.id);
            if (e.side !== 0) return;
            let known: Ev[];
            let row: Ev | undefined;
            if (version === 'latest') {
              known = events.slice(0, i).filter((x) => x.side === 1 && x.k === e.k);
              row = known.at(-1);
            } else {
              if (e.ts <= at[i]!) { lateIds.push(e.id); return; }
              // Looked up right after the first event that moves the watermark to its time.
              const j = after.findIndex((w, n) => n >= i && w >= e.ts);
              if (j < 0) return; // still waiting at the end
              known = events.slice(0, j + 1).filter((x) => x.side === 1 && x.k === e.k && x.ts <= e.ts && x.ts > at[x.id]!);
              row = known.reduce<Ev | undefined>((best, x) => (best === undefined || x.ts >= best.ts ? x : best), undefined);
            }
            if (row !== undefined && row.v === null) row = undefined;
            if (row === undefined && type === 'inner') return;
            expected.push(`${e.id}:${row === undefined ? '-' : row.id}`);
          });
          assert.deepEqual(out.map((x) => x.value as string).sort(), expected.sort(), `round ${round}, delay ${delay}`);
          assert.deepEqual(late.map((x) => (x.value as Ev | null)?.id ?? -1).sort((a, b) => a - b), lateIds.map((id) => (events[id]!.v === null ? -1 : id)).sort((a, b) => a - b));
        }
      });
    }
  }
});
