/**
 * A numeric key and its string (`5`, `'5'`) are one group in every keyed operator, before and after a
 * restart from a checkpoint, with either state backend: state is held by key id (a number as itself),
 * checkpoints and disk by key string, and what is read back must become the same id again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { count } from '../../src/engine/aggregates.js';
import { createWindowOperator } from '../../src/engine/compile.js';
import { keyEntryCodec, valueState } from '../../src/engine/keyed-state.js';
import { IntervalJoinOperator } from '../../src/engine/operators/interval-join.js';
import { KeyedAggregateOperator } from '../../src/engine/operators/keyed-aggregate.js';
import type { Element, Operator } from '../../src/engine/operators/operator.js';
import { ProcessOperator, type ProcessFunction } from '../../src/engine/operators/process.js';
import { WindowJoinOperator } from '../../src/engine/operators/window-join.js';
import { countWindow, hopping, resolveWindowOptions, session, sliding, tumbling, type WindowSpec } from '../../src/engine/windows.js';
import { MemoryStateBackend } from '../../src/state/memory-backend.js';
import { RestartableState } from '../helpers/restartable-state.js';

const collector = (into: Element[]): Operator => ({ id: 'c', process: (b: Element[]) => { into.push(...b); }, watermark() {}, snapshot: () => undefined, restore() {} });
const ev = (key: unknown, ts: number): Element => ({ value: { key }, ts, key, wm: -Infinity });
const json = (x: unknown): unknown => JSON.parse(JSON.stringify(x ?? null)) as unknown;

/** Runs `first` on a fresh operator, restarts from a checkpoint, runs `then` on the restored one. */
async function acrossRestart<O extends Operator>(kind: 'memory' | 'lmdb', make: (state: RestartableState) => O,
  first: (op: O) => void, then: (op: O, state: RestartableState) => void): Promise<void> {
  const state = new RestartableState(kind);
  try {
    let op = make(state);
    first(op);
    const snap = json(op.snapshot());
    await state.checkpoint();
    await state.restart();
    op = make(state);
    op.restore(snap);
    then(op, state);
  } finally {
    await state.close();
  }
}

for (const kind of ['memory', 'lmdb'] as const) {
  describe(`key ids (${kind} state)`, () => {
    const windows: [string, WindowSpec, 'final' | 'update'][] = [
      ['tumbling', tumbling(1000), 'final'], ['tumbling', tumbling(1000), 'update'], ['hopping', hopping(1000, 500), 'final'],
      ['sliding', sliding(1000), 'final'], ['session', session(1000), 'final'], ['count', countWindow(4), 'final'],
    ];
    for (const [name, spec, emit] of windows) {
      test(`${name} windows (${emit}): 5 and '5' count as one key across a restart`, async () => {
        const out: Element[] = [];
        await acrossRestart(kind,
          (state) => createWindowOperator('w', [{ op: collector(out), input: 0 }], [], spec, resolveWindowOptions(spec, { emit }), { n: count() } as never, state.state),
          (op) => op.process([ev(5, 100), ev(5, 110)], 0),
          (op) => {
            op.process([ev('5', 120), ev(5, 130)], 0);
            op.watermark(100_000);
          });
        const counts = out.map((e) => e.value as { n: number; retracted?: boolean }).filter((r) => !r.retracted).map((r) => r.n);
        assert.equal(Math.max(...counts), 4, `one group holds all four events: ${JSON.stringify(out.map((e) => e.value))}`);
      });
    }

    test('running aggregates: 5 and \'5\' are one row across a restart', async () => {
      const out: Element[] = [];
      await acrossRestart(kind,
        (state) => new KeyedAggregateOperator('a', [{ op: collector(out), input: 0 }], { n: count() } as never, 'events', state.state),
        (op) => op.process([ev(5, 1)]),
        (op) => op.process([ev('5', 2)]));
      assert.deepEqual(out.map((e) => (e.value as { n: number }).n), [1, 2]);
    });

    test('interval and window joins: a side buffered under 5 meets the other side\'s \'5\' after a restart', async () => {
      const interval: Element[] = [];
      await acrossRestart(kind,
        (state) => new IntervalJoinOperator('j', [{ op: collector(interval), input: 0 }], [], 100, 100, (l, r) => [l, r], state.state),
        (op) => op.process([ev(5, 10)], 0),
        (op) => {
          op.process([ev('5', 20)], 1);
          op.watermark(1000, 0);
          op.watermark(1000, 1);
        });
      assert.equal(interval.length, 1);
      const windowed: Element[] = [];
      await acrossRestart(kind,
        (state) => new WindowJoinOperator('j', [{ op: collector(windowed), input: 0 }], [], tumbling(1000), (l: unknown, r: unknown) => [l, r], state.state),
        (op) => op.process([ev(5, 10)], 0),
        (op) => {
          op.process([ev('5', 20)], 1);
          op.watermark(5000, 0);
          op.watermark(5000, 1);
        });
      assert.equal(windowed.length, 1);
    });
  });
}

test('keyed state: a key whose TTL state was written, and whose other state emptied, leaves the table at its expiry', () => {
  // The written TTL state needs a cleanup timer even though the entry was stored already.
  const fn: ProcessFunction<{ op: string }, string, never, { a: ReturnType<typeof valueState<number>>; b: ReturnType<typeof valueState<number>> }> = {
    state: { a: valueState<number>(), b: valueState<number>({ ttl: '10s' }) },
    onEvent(e, ctx) {
      if (e.op === 'a') ctx.state.a.set(1);
      else if (e.op === 'b') ctx.state.b.set(1);
      else ctx.state.a.clear();
    },
  };
  const state = new MemoryStateBackend();
  const op = new ProcessOperator('p', [], fn as never, state);
  const e = (o: string, ts: number, wm: number): Element => ({ value: { op: o }, ts, key: 'k', wm });
  op.process([e('a', 0, -Infinity), e('b', 1000, 0), e('clear', 2000, 1000)], 0);
  assert.equal([...state.table('p/state', keyEntryCodec).entries()].length, 1);
  op.watermark(60_000);
  assert.equal([...state.table('p/state', keyEntryCodec).entries()].length, 0);
});

test('a value state restored from a checkpoint object leaves that object as it was', () => {
  const fn: ProcessFunction<{ v: number }, string, never, { v: ReturnType<typeof valueState<number>> }> = {
    state: { v: valueState<number>() },
    onEvent(e, ctx) { ctx.state.v.set(e.v); },
  };
  const a = new MemoryStateBackend();
  new ProcessOperator('p', [], fn as never, a).process([{ value: { v: 1 }, ts: 1, key: 'k', wm: -Infinity }], 0);
  const capture = a.capture();
  const before = JSON.stringify(capture);
  const b = new MemoryStateBackend();
  b.recover(1, capture);
  new ProcessOperator('p', [], fn as never, b).process([{ value: { v: 99 }, ts: 2, key: 'k', wm: -Infinity }], 0);
  assert.equal(JSON.stringify(capture), before, 'a second recovery from it gets the same state');
});
