import assert from 'node:assert/strict';
import { MemoryStateBackend } from '../../src/state/memory-backend.js';
import type { StateCapture } from '../../src/state/state-backend.js';
import { describe, test } from 'node:test';
import { count, sum } from '../../src/engine/aggregates.js';
import { keyEntryCodec, listState, mapState, valueState, type KeyEntry, type MapStateDescriptor, type ValueStateDescriptor } from '../../src/engine/keyed-state.js';
import type { Element, Operator } from '../../src/engine/operators/operator.js';
import { ProcessOperator, type ProcessFunction } from '../../src/engine/operators/process.js';
import { UnionOperator } from '../../src/engine/operators/stateless.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { runBounded } from '../../src/engine/bounded.js';
import { session, tumbling } from '../../src/engine/windows.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { RestartableState } from '../helpers/restartable-state.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

interface Reading { sensor: string; ts: number; temp: number }

function collector(into: Element[]): Operator {
  return { id: 'collect', process: (b) => { into.push(...b); }, watermark() {}, snapshot: () => undefined, restore() {} };
}

const el = (r: Reading, wm: number): Element => ({ value: r, ts: r.ts, key: r.sensor, wm });

/** Emits when a sensor sends nothing for 60 s of event time; counts readings and keeps the last three. */
const silence = {
  state: { deadline: valueState<number>(), seen: mapState<string, number>(), last3: listState<number>() },
  onEvent(r, ctx) {
    const old = ctx.state.deadline.get();
    if (old !== undefined) ctx.timers.cancelEventTime(old);
    ctx.state.deadline.set(r.ts + 60_000);
    ctx.timers.atEventTime(r.ts + 60_000);
    ctx.state.seen.set('readings', (ctx.state.seen.get('readings') ?? 0) + 1);
    ctx.state.last3.set([...ctx.state.last3.get(), r.temp].slice(-3));
  },
  onTimer(t, ctx) {
    ctx.emit({ sensor: ctx.key, silentSince: t.time - 60_000, readings: ctx.state.seen.get('readings'), last3: ctx.state.last3.get() });
    ctx.state.deadline.clear();
  },
} satisfies ProcessFunction<Reading, string, unknown, {
  deadline: ReturnType<typeof valueState<number>>; seen: ReturnType<typeof mapState<string, number>>; last3: ReturnType<typeof listState<number>>;
}>;

describe('process operator', () => {
  test('event-time timers fire once the watermark reaches them, with the key\'s state; cancelled ones do not', () => {
    const out: Element[] = [];
    let state = new MemoryStateBackend();
    const make = () => new ProcessOperator('p', [{ op: collector(out), input: 0 }], silence as never, state);
    let op = make();
    op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity), el({ sensor: 'b', ts: 1000, temp: 5 }, -Infinity), el({ sensor: 'a', ts: 30_000, temp: 2 }, 0)], 0);
    op.watermark(60_500); // a's first timer (60 000) was cancelled; b's fires at 61 000: not yet
    assert.equal(out.length, 0);
    // State and timers survive a checkpoint.
    const snap = JSON.parse(JSON.stringify({ op: op.snapshot(), state: state.capture() })) as { op: unknown; state: StateCapture };
    state = new MemoryStateBackend();
    state.recover(1, snap.state);
    op = make();
    op.restore(snap.op);
    op.process([el({ sensor: 'a', ts: 61_000, temp: 3 }, 60_500)], 0);
    op.watermark(200_000);
    assert.deepEqual(out.map((e) => [e.value, e.ts]), [
      [{ sensor: 'b', silentSince: 1000, readings: 1, last3: [5] }, 61_000],
      [{ sensor: 'a', silentSince: 61_000, readings: 3, last3: [1, 2, 3] }, 121_000],
    ]);
    // Timer results carry the watermark from before the step that fired them, so downstream windows take them.
    assert.ok(out.every((e) => e.wm < e.ts));
  });

  test('state with a TTL is gone once the watermark passes its write time + ttl', () => {
    const out: Element[] = [];
    const fn: ProcessFunction<Reading, string, number, { total: ValueStateDescriptor<number> }> = {
      state: { total: valueState<number>({ ttl: '10s' }) },
      onEvent(r, ctx) {
        const total = (ctx.state.total.get() ?? 0) + r.temp;
        ctx.state.total.set(total);
        ctx.emit(total);
      },
    };
    const op = new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never);
    op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity), el({ sensor: 'a', ts: 5000, temp: 1 }, 0)], 0);
    op.process([el({ sensor: 'a', ts: 14_000, temp: 1 }, 14_000)], 0); // written at 5000: alive until 15 000
    op.process([el({ sensor: 'a', ts: 30_000, temp: 1 }, 24_001)], 0); // written at 14 000: expired at 24 000
    assert.deepEqual(out.map((e) => e.value), [1, 2, 3, 1]);
  });

  for (const kind of ['memory', 'lmdb'] as const) {
    test(`expired state leaves the ${kind} state backend key by key as the watermark passes, across restarts`, async () => {
      const fn = (ttl: boolean): ProcessFunction<Reading, string, number, { total: ValueStateDescriptor<number>; byTemp: MapStateDescriptor<number, number>; forever: ValueStateDescriptor<number> }> => ({
        state: { total: valueState<number>(ttl ? { ttl: '10s' } : {}), byTemp: mapState<number, number>(ttl ? { ttl: '20s' } : {}), forever: valueState<number>() },
        onEvent(r, ctx) {
          ctx.state.total.set((ctx.state.total.get() ?? 0) + 1);
          ctx.state.byTemp.set(r.temp, r.ts);
          if (r.sensor === 'keep') ctx.state.forever.set(1);
        },
      });
      // `legacy`: the first run is of a version that kept no cleanup timers (modelled by one without TTLs).
      for (const legacy of [false, true]) {
        const state = new RestartableState(kind);
        try {
          const make = (ttl = true) => new ProcessOperator('p', [], fn(ttl) as never, state.state);
          let op = make(!legacy);
          const table = () => [...state.state.table<KeyEntry>('p/state', keyEntryCodec).entries()].map(([k, e]) => [k, e.values.map((v) => (v instanceof Map ? [...v.keys()] : v ?? null))]);
          op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity), el({ sensor: 'b', ts: 1000, temp: 1 }, -Infinity), el({ sensor: 'keep', ts: 1000, temp: 1 }, -Infinity)], 0);
          op.process([el({ sensor: 'a', ts: 15_000, temp: 2 }, 5000)], 0);
          // A checkpoint and a restart (for `legacy`, from a checkpoint without cleanup timers: the restart sets them).
          const snap = JSON.parse(JSON.stringify(op.snapshot())) as Record<string, unknown>;
          if (legacy) delete snap.stateCleanups;
          await state.checkpoint();
          await state.restart();
          op = make();
          op.restore(snap);
          op.watermark(12_000); // b's total (1000 + 10 s) has expired, a's was rewritten at 15 000
          assert.deepEqual(table().sort(), [['a', [2, ['n1', 'n2'], null]], ['b', [null, ['n1'], null]], ['keep', [null, ['n1'], 1]]], `legacy ${legacy}`);
          op.watermark(21_000); // the map entries written at 0 and 1000 are gone, and with them key b
          assert.deepEqual(table().sort(), [['a', [2, ['n2'], null]], ['keep', [null, [], 1]]], `legacy ${legacy}`);
          op.watermark(100_000);
          assert.deepEqual(table(), [['keep', [null, [], 1]]], `legacy ${legacy}`);
        } finally {
          await state.close();
        }
      }
    });
  }
  for (const kind of ['memory', 'lmdb'] as const) {
    test(`keeping time by its input edges, an event first fires its own key's due timers, also after a restore (${kind})`, async () => {
      // A task of a split pipeline: the operator's watermark is the smallest of all tasks', and an event
      // read under a later one first fires the timers of its key that this watermark passed.
      const fn: ProcessFunction<{ k: string; ts: number }, string, unknown[], Record<string, never>> = {
        onEvent(e, ctx) {
          if (e.ts < 100) ctx.timers.atEventTime(100);
          else ctx.emit(['event', e.k, ctx.timestamp]);
        },
        onTimer(t, ctx) { ctx.emit(['timer', ctx.key, t.time]); },
      };
      const state = new RestartableState(kind);
      const out: Element[] = [];
      const ev = (k: string, ts: number, wm: number): Element => ({ value: { k, ts }, ts, key: k, wm });
      try {
        const make = () => {
          const op = new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never, state.state);
          op.edgeTimed = true;
          return op;
        };
        let op = make();
        op.process([ev('a', 1, 0), ev('b', 2, 0), ev('c', 3, 0)], 0);
        op.process([ev('c', 120, 110)], 0);
        assert.deepEqual(out.map((e) => e.value), [['timer', 'c', 100], ['event', 'c', 120]], 'before a restore');
        const snap = JSON.parse(JSON.stringify(op.snapshot())) as unknown;
        await state.checkpoint();
        await state.restart();
        op = make();
        op.restore(snap);
        out.length = 0;
        op.watermark(50); // with LMDB, the timers' bucket is read into memory: the key index is built from it
        op.process([ev('a', 150, 150)], 0);
        assert.deepEqual(out.map((e) => e.value), [['timer', 'a', 100], ['event', 'a', 150]], "a's timer fires before its event");
        op.watermark(200);
        assert.deepEqual(out.map((e) => e.value).slice(2), [['timer', 'b', 100]], "b's timer waits for the operator's watermark");
      } finally {
        await state.close();
      }
    });
  }


  for (const kind of ['memory', 'lmdb'] as const) {
    test(`a numeric key and its string are one key, also across a restart (${kind})`, async () => {
      // Keys 5 and '5' have one key string, so one group — as Rivulet has always grouped them.
      const fn: ProcessFunction<{ k: unknown; ts: number }, unknown, [unknown, number], { n: ValueStateDescriptor<number> }> = {
        state: { n: valueState<number>() },
        onEvent(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit([e.k, n]);
          if (n === 2) ctx.timers.atEventTime(e.ts + 10);
        },
        onTimer(_t, ctx) { ctx.emit(['timer', ctx.state.n.get()!]); },
      };
      const state = new RestartableState(kind);
      const out: Element[] = [];
      const ev = (k: unknown, ts: number, wm: number): Element => ({ value: { k, ts }, ts, key: k, wm });
      try {
        const make = () => new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never, state.state);
        let op = make();
        op.process([ev(5, 1, -Infinity), ev('5', 2, -Infinity), ev('05', 3, -Infinity), ev(-1.5, 4, -Infinity)], 0);
        const snap = JSON.parse(JSON.stringify(op.snapshot())) as unknown;
        await state.checkpoint();
        await state.restart();
        op = make();
        op.restore(snap);
        op.process([ev('5', 5, 4), ev(5, 6, 4), ev('-1.5', 7, 4)], 0);
        op.watermark(100);
        assert.deepEqual(out.map((e) => e.value), [[5, 1], ['5', 2], ['05', 1], [-1.5, 1], ['5', 3], [5, 4], ['-1.5', 2], ['timer', 4], ['timer', 2]]);
      } finally {
        await state.close();
      }
    });
  }

  test('a list handed out by get, or a list or value taken by a checkpoint, does not change with later writes', () => {
    const seen: (readonly number[])[] = [];
    const last: (number | undefined)[] = [];
    const fn: ProcessFunction<{ k: string; v: number; ts: number }, string, never, { l: ReturnType<typeof listState<number>>; last: ValueStateDescriptor<number> }> = {
      state: { l: listState<number>(), last: valueState<number>() },
      onEvent(e, ctx) {
        if (e.v < 0) {
          seen.push(ctx.state.l.get());
          last.push(ctx.state.last.get());
        } else {
          ctx.state.l.add(e.v);
          ctx.state.last.set(e.v);
        }
      },
    };
    const state = new MemoryStateBackend();
    const op = new ProcessOperator('p', [], fn as never, state);
    const ev = (v: number, ts: number): Element => ({ value: { k: 'a', v, ts }, ts, key: 'a', wm: -Infinity });
    op.process([ev(1, 0), ev(2, 1), ev(-1, 2), ev(3, 3)], 0);
    const capture = state.capture();
    op.process([ev(4, 4), ev(-1, 5), ev(5, 6)], 0);
    op.process([ev(-1, 7)], 0);
    assert.deepEqual(seen, [[1, 2], [1, 2, 3, 4], [1, 2, 3, 4, 5]], 'each get gave the list as it was then');
    const restored = new MemoryStateBackend();
    restored.recover(1, JSON.parse(JSON.stringify(capture)) as StateCapture);
    const again = new ProcessOperator('p', [], fn as never, restored);
    again.process([ev(-1, 8)], 0);
    assert.deepEqual(seen[3], [1, 2, 3], 'the checkpoint holds the list as it was when taken');
    assert.deepEqual(last, [2, 4, 5, 3], 'and the value');
  });

  test('a value state may hold an empty Map of its own; a map state\'s entries and a checkpoint of the stored form read back', () => {
    const got: unknown[] = [];
    const fn: ProcessFunction<{ v: number; ts: number }, string, never, { m: ValueStateDescriptor<Map<string, number>>; byV: MapStateDescriptor<number, number> }> = {
      state: { m: valueState<Map<string, number>>(), byV: mapState<number, number>() },
      onEvent(e, ctx) {
        if (e.v === 0) ctx.state.m.set(new Map());
        else got.push(ctx.state.m.get(), ctx.state.byV.entries());
        ctx.state.byV.set(e.v, e.ts);
        if (e.v === 0) ctx.state.byV.delete(0); // the key's map state is empty again: only the value holds anything
      },
    };
    const state = new MemoryStateBackend();
    const op = new ProcessOperator('p', [], fn as never, state);
    const ev = (v: number, ts: number): Element => ({ value: { v, ts }, ts, key: 'a', wm: -Infinity });
    op.process([ev(0, 0), ev(1, 1)], 0);
    assert.deepEqual(got, [new Map(), []], 'the empty Map was kept, not taken for an empty map state');
    // The stored form in a checkpoint: one slot per state, `{ v, t }` for a value, entries for a map.
    const row = keyEntryCodec.encode([...state.table<KeyEntry>('p/state', keyEntryCodec).entries()][0]![1]);
    assert.deepEqual(JSON.parse(JSON.stringify(row)), { key: 'a', slots: [{ v: {}, t: 0 }, [['n1', 1, 1, 1]]] });
    // An entry as stored before (a list slot with its `own` flag, a TTL's cleanup time) reads back.
    const old = keyEntryCodec.decode({ key: 'b', slots: [{ v: [1, 2], t: 5, own: false }, null, [['s1', '1', 'x', 7]]], cleanupAt: 60_005 });
    assert.deepEqual(old.values.slice(0, 2), [[1, 2], undefined]);
    assert.deepEqual([...(old.values[2] as Map<string, unknown>)], [['s1', { k: '1', v: 'x', t: 7 }]]);
    assert.deepEqual([old.times[0], old.cleanupAt], [5, 60_005]);
    assert.deepEqual(keyEntryCodec.encode(old), { key: 'b', slots: [{ v: [1, 2], t: 5 }, null, [['s1', '1', 'x', 7]]], cleanupAt: 60_005 });
  });

  test('a key that is only read keeps no state; the first write to a key gives it state of its own', () => {
    type S = { v: ValueStateDescriptor<number>; m: MapStateDescriptor<string, number>; l: ReturnType<typeof listState<number>> };
    const seen: unknown[] = [];
    const fn: ProcessFunction<{ k: string; write: number; ts: number }, string, never, S> = {
      state: { v: valueState<number>(), m: mapState<string, number>(), l: listState<number>() },
      onEvent(e, ctx) {
        seen.push([e.k, ctx.state.v.get() ?? null, ctx.state.m.entries(), [...ctx.state.l.get()]]);
        // Writes of each kind, through the state that is read first, and a clear of a key without state.
        if (e.write === 1) ctx.state.m.set('x', e.ts);
        if (e.write === 2) ctx.state.l.add(e.ts);
        if (e.write === 3) ctx.state.v.set(e.ts);
        if (e.write === 0) ctx.state.v.clear();
        if (e.write === 4) ctx.state.v.set(undefined as never); // the same as clear()
      },
    };
    const state = new MemoryStateBackend();
    const op = new ProcessOperator('p', [], fn as never, state);
    const ev = (k: string, write: number, ts: number): Element => ({ value: { k, write, ts }, ts, key: k, wm: -Infinity });
    op.process([ev('r', 0, 1), ev('a', 1, 2), ev('r', 0, 3), ev('b', 2, 4), ev('r', 0, 5), ev('c', 3, 6), ev('r', 0, 7), ev('a', 0, 8), ev('b', 0, 9), ev('c', 0, 10), ev('d', 4, 11)], 0);
    assert.deepEqual(seen, [
      ['r', null, [], []], ['a', null, [], []], ['r', null, [], []], ['b', null, [], []], ['r', null, [], []], ['c', null, [], []], ['r', null, [], []],
      ['a', null, [['x', 2]], []], ['b', null, [], [4]], ['c', 6, [], []], ['d', null, [], []],
    ], 'what one key wrote is its own; the key that only reads sees nothing');
    const keys = [...state.table<KeyEntry>('p/state', keyEntryCodec).entries()].map(([k]) => k).sort();
    assert.deepEqual(keys, ['a', 'b'], 'no entry for the key that only read, nor for d, which set undefined; c emptied by its clear');
  });

  for (const kind of ['memory', 'lmdb'] as const) {
    test(`a key emptied and written again keeps its state until its new expiry (${kind})`, async () => {
      // The cleanup timer of the first write stays when the key empties; it must not cut the second short.
      const fn: ProcessFunction<{ op: 'set' | 'clear' | 'read'; ts: number }, string, unknown, { v: ValueStateDescriptor<number> }> = {
        state: { v: valueState<number>({ ttl: '10s' }) },
        onEvent(e, ctx) {
          if (e.op === 'set') ctx.state.v.set(e.ts);
          else if (e.op === 'clear') ctx.state.v.clear();
          else ctx.emit([e.ts, ctx.state.v.get() ?? null]);
        },
      };
      const state = new RestartableState(kind);
      const out: Element[] = [];
      const ev = (op: 'set' | 'clear' | 'read', ts: number, wm: number): Element => ({ value: { op, ts }, ts, key: 'a', wm });
      try {
        const make = () => new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never, state.state);
        let op = make();
        op.process([ev('set', 0, -Infinity), ev('clear', 1000, 0), ev('set', 5000, 1000)], 0);
        const snap = JSON.parse(JSON.stringify(op.snapshot())) as unknown;
        await state.checkpoint();
        await state.restart();
        op = make();
        op.restore(snap);
        op.process([ev('read', 12_000, 12_000)], 0); // the first write's cleanup (10 000) has passed
        const rows = () => [...state.state.table<KeyEntry>('p/state', keyEntryCodec).entries()].length;
        assert.equal(rows(), 1, 'the entry is still there');
        op.process([ev('read', 15_500, 15_500)], 0);
        assert.equal(rows(), 0, 'and gone at its own expiry');
        assert.deepEqual(out.map((e) => e.value), [[12_000, 5000], [15_500, null]]);
      } finally {
        await state.close();
      }
    });
  }

  test('a timer at a time that is not a number is refused, naming the method and the value', () => {
    const fn: ProcessFunction<Reading, string, string> = {
      onEvent(r, ctx) { ctx.timers.atEventTime(r.temp === 1 ? Number.NaN : r.ts + 1000); },
      onTimer(t, ctx) { ctx.emit(`fired ${t.time}`); },
    };
    const out: Element[] = [];
    const op = new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never);
    assert.throws(() => op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity)], 0), { name: 'InvalidArgumentError', code: 'invalid_timer_time', message: /timers\.atEventTime takes a time in epoch milliseconds, got NaN/ });
    // The refused timer blocks nothing.
    op.process([el({ sensor: 'b', ts: 0, temp: 2 }, -Infinity)], 0);
    op.watermark(5000);
    assert.deepEqual(out.map((e) => e.value), ['fired 1000']);
  });

  test('processing-time timers fire on the wall clock', () => {
    const out: Element[] = [];
    const fn: ProcessFunction<Reading, string, string> = {
      onEvent(_r, ctx) { ctx.timers.atProcessingTime(ctx.now() + 1000); },
      onTimer(t, ctx) { ctx.emit(t.domain); },
    };
    const op = new ProcessOperator('p', [{ op: collector(out), input: 0 }], fn as never);
    op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity)], 0);
    assert.ok(op.wantsTicks);
    op.tick(Date.now());
    assert.equal(out.length, 0);
    op.tick(Date.now() + 2000);
    assert.deepEqual(out.map((e) => e.value), ['processing']);
    assert.equal(op.wantsTicks, false);
  });

  test('what a processing-time timer emits passes a union at once, without waiting for a watermark', () => {
    const out: Element[] = [];
    const union = new UnionOperator('u', [{ op: collector(out), input: 0 }], 2);
    const fn: ProcessFunction<Reading, string, string> = {
      onEvent(_r, ctx) { ctx.timers.atProcessingTime(ctx.now() + 1000); },
      onTimer(t, ctx) { ctx.emit(t.domain); },
    };
    const op = new ProcessOperator('p', [{ op: union, input: 0 }], fn as never);
    op.process([el({ sensor: 'a', ts: 0, temp: 1 }, -Infinity)], 0);
    op.tick(Date.now() + 2000);
    assert.deepEqual(out.map((e) => e.value), ['processing']);
  });
});

describe('pipelines with process, joins and running aggregates', () => {
  test('enrichment, an interval join, a running aggregate and a timer, end to end through the log', async () => {
    interface Payment { id: number; user: string; amount: number; ts: number }
    interface Login { user: string; ip: string; ts: number }
    interface User { id: string; tier: string; ts: number }
    const pipeline = definePipeline({
      name: 'shop',
      setup(app) {
        const payments = app.stream<Payment>('payments', { time: 'ts', outOfOrderness: 0, partitions: 1 }).keyBy((p) => p.user);
        const logins = app.stream<Login>('logins', { time: 'ts', outOfOrderness: 0, partitions: 1 }).keyBy((l) => l.user);
        const users = app.stream<User>('users', { time: 'ts', outOfOrderness: 0, partitions: 1 }).keyBy((u) => u.id);
        payments.joinTable(users, (p, u) => ({ id: p.id, tier: u?.tier ?? 'none' }), { type: 'left' }).to('enriched', { partitions: 1 });
        payments.intervalJoin(logins, { before: '1m', after: '0s' }, (p, l) => ({ id: p.id, ip: l.ip })).to('with-login', { partitions: 1 });
        payments.aggregate({ n: count(), total: sum((p: Payment) => p.amount) }).to('user-totals', { partitions: 1 });
      },
    });
    const tmp = tempDir();
    const { log, engine, stop } = await startEngine(tmp.dir, [pipeline]);
    try {
      await feed(log, engine, 'users', [{ value: { id: 'ann', tier: 'gold', ts: 0 } }]);
      await feed(log, engine, 'logins', [{ value: { user: 'ann', ip: '10.0.0.1', ts: 1000 } }]);
      await feed(log, engine, 'payments', [
        { value: { id: 1, user: 'ann', amount: 10, ts: 30_000 } },
        { value: { id: 2, user: 'bob', amount: 5, ts: 40_000 } },
        { value: { id: 3, user: 'ann', amount: 7, ts: 90_000 } }, // the login is more than a minute before
      ]);
      await waitFor('the totals', async () => (await readAll(log, 'user-totals')).length >= 2);
      assert.deepEqual((await readAll(log, 'enriched')).map((r) => r.value), [{ id: 1, tier: 'gold' }, { id: 2, tier: 'none' }, { id: 3, tier: 'gold' }]);
      assert.deepEqual((await readAll(log, 'with-login')).map((r) => r.value), [{ id: 1, ip: '10.0.0.1' }]);
      const totals = new Map((await readAll(log, 'user-totals')).map((r) => [r.key, r.value]));
      assert.deepEqual(Object.fromEntries(totals), { ann: { key: 'ann', n: 2, total: 17 }, bob: { key: 'bob', n: 1, total: 5 } });
    } finally {
      await stop();
      tmp.remove();
    }
  });
});

test('a key object that keyBy reuses and changes is read afresh for every event', () => {
  interface In { a: string; ts: number }
  const scratch: unknown[] = [];
  // Typed keys are strings or numbers; plain JavaScript may return anything, and keys are compared by their JSON.
  const keyOf = ((e: In) => {
    scratch[0] = e.a; // one array for every event, changed in place
    return scratch;
  }) as unknown as (e: In) => string;
  const def = definePipeline({
    name: 'reused-keys',
    setup(app) {
      const s = app.stream<In>('in', { time: 'ts', outOfOrderness: 0 });
      s.keyBy(keyOf).process({
        state: { n: valueState<number>() },
        onEvent(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit({ a: e.a, n });
        },
      }).to('counts');
      s.keyBy(keyOf).window(session('1s')).aggregate({ n: count() }).to('sessions');
      s.keyBy(keyOf).window(tumbling('1s')).aggregate({ n: count() }).to('windows');
    },
  });
  const events: In[] = [{ a: 'x', ts: 0 }, { a: 'y', ts: 1 }, { a: 'x', ts: 2 }, { a: 'y', ts: 3 }];
  const { outputs } = runBounded(def, { in: events });
  assert.deepEqual(outputs.get('counts')!.map((r) => r.value), [{ a: 'x', n: 1 }, { a: 'y', n: 1 }, { a: 'x', n: 2 }, { a: 'y', n: 2 }]);
  assert.deepEqual(outputs.get('sessions')!.map((r) => (r.value as { n: number }).n), [2, 2]);
  assert.deepEqual(outputs.get('windows')!.map((r) => (r.value as { n: number }).n), [2, 2]);
});
