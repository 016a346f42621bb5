/**
 * Both timer indexes (heap and state table) against a model: random adds, cancels and pops, with
 * checkpoints, commits and restarts of the LMDB backend in between. Timers come out in time order, at
 * most one per (time, key), with their key, exactly as the model says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonValue } from '../../src/core/record.js';
import { TableTimers, TimerHeap, TimerQueue, type TimerIndex } from '../../src/engine/operators/timer-queue.js';
import { type KeyId, keyIdString } from '../../src/state/key-id.js';
import { LmdbStateBackend } from '../../src/state/lmdb-backend.js';
import type { StateBackend, StateCapture } from '../../src/state/state-backend.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

interface Harness {
  index: TimerIndex;
  /** Commits a checkpoint holding the index's snapshot; returns it. */
  checkpoint(): Promise<JsonValue>;
  /** A new process: the index restored from the last checkpoint. */
  restart(snapshot: JsonValue): Promise<void>;
  close(): Promise<void>;
}

function heapHarness(): Harness {
  const h: Harness = {
    index: new TimerQueue(),
    checkpoint: async () => JSON.parse(JSON.stringify(h.index.snapshot())) as JsonValue,
    restart: async (snapshot) => {
      h.index = new TimerQueue();
      h.index.restore(snapshot);
    },
    close: async () => {},
  };
  return h;
}

function tableHarness(width: number): Harness {
  const tmp = tempDir();
  let epoch = 0;
  let last: StateCapture | undefined;
  let state: StateBackend = new LmdbStateBackend({ dir: tmp.dir });
  state.recover(0, undefined);
  const h: Harness = {
    index: new TableTimers(state, 'op/timers', width),
    checkpoint: async () => {
      const snapshot = JSON.parse(JSON.stringify(h.index.snapshot())) as JsonValue;
      last = state.capture();
      await state.committed(++epoch, last);
      return snapshot;
    },
    restart: async (snapshot) => {
      await state.close();
      state = new LmdbStateBackend({ dir: tmp.dir });
      h.index = new TableTimers(state, 'op/timers', width);
      state.recover(epoch, last);
      h.index.restore(snapshot);
    },
    close: async () => {
      await state.close();
      tmp.remove();
    },
  };
  return h;
}

/**
 * When the next timer is due: `scattered` anywhere from just before now to 400 ms on; `in order`
 * mostly at or after the latest timer added so far (a TTL, a session's end: the memory index queues
 * these instead of heaping them), often at the same time as it, sometimes scattered.
 */
type Schedule = 'scattered' | 'in order';

async function againstModel(h: Harness, seed: number, schedule: Schedule = 'scattered'): Promise<void> {
  const random = prng(seed);
  let latest = 0;
  const nextTime = (now: number): number => {
    if (schedule === 'scattered' || random() < 0.05) return now + Math.floor(random() * 400) - 20;
    latest = Math.max(latest, now) + (random() < 0.7 ? 0 : Math.floor(random() * 5));
    return latest;
  };
  let model = new Map<string, [number, KeyId, unknown]>();
  let saved: { snapshot: JsonValue; model: Map<string, [number, KeyId, unknown]> } = { snapshot: await h.checkpoint(), model: new Map() };
  let now = 0;
  const id = (t: number, k: KeyId) => `${t}/${keyIdString(k)}`;
  // Key ids are numbers or strings; timers of one time come out in key string order either way ('10' < '9' < 'k1').
  const pool: KeyId[] = [...Array.from({ length: 30 }, (_, i) => `k${i}`), 9, 10, -3, 2.5, 1e21];
  for (let step = 0; step < 3000; step++) {
    const r = random();
    if (r < 0.45) {
      const t = nextTime(now);
      const k = pool[Math.floor(random() * pool.length)]!;
      // Some operators' timers carry no key: `undefined` must come back as it went in.
      const key = k === 'k0' ? undefined : k === 'k1' ? null : typeof k === 'number' ? k : { k, n: Number(k.slice(1)) };
      assert.equal(h.index.add(t, k, key), !model.has(id(t, k)), 'add tells whether the timer is new');
      if (!model.has(id(t, k))) model.set(id(t, k), [t, k, key]);
    } else if (r < 0.55) {
      const existing = [...model.values()];
      const [t, k] = existing.length > 0 && random() < 0.8 ? existing[Math.floor(random() * existing.length)]! : [now + 5, 'nobody'];
      assert.equal(h.index.cancel(t, k), model.delete(id(t, k)), 'cancel tells whether there was a timer');
    } else if (r < 0.9) {
      now += Math.floor(random() * 40);
      for (;;) {
        const popped = h.index.pop(now);
        const due = [...model.values()].filter(([t]) => t <= now);
        if (!popped) {
          assert.deepEqual(due, [], `timers due at ${now} stay in the index`);
          break;
        }
        const [first] = due.sort((a, b) => a[0] - b[0] || (keyIdString(a[1]) < keyIdString(b[1]) ? -1 : 1));
        assert.deepEqual([popped.time, popped.id], [first![0], first![1]], 'the earliest due timer comes first, then the smallest key string');
        const expected = model.get(id(popped.time, popped.id));
        assert.ok(expected, `popped timer ${popped.time}/${popped.id} was added`);
        assert.deepEqual(popped.key, expected[2]);
        model.delete(id(popped.time, popped.id));
      }
    } else if (r < 0.97) {
      saved = { snapshot: await h.checkpoint(), model: new Map(model) };
    } else {
      // A crash: everything since the last checkpoint is lost.
      await h.restart(saved.snapshot);
      model = new Map(saved.model);
    }
    assert.equal(h.index.empty, model.size === 0);
  }
}

for (const [name, make] of [['heap', () => heapHarness()], ['table, 1 ms buckets', () => tableHarness(1)], ['table, 64 ms buckets', () => tableHarness(64)]] as const) {
  for (const schedule of ['scattered', 'in order'] as const) {
    test(`timers (${name}, ${schedule}): in time order, one per time and key, cancellable, restored from checkpoints`, async () => {
      for (const seed of [1, 2, 3]) {
        const h = make();
        try {
          await againstModel(h, seed, schedule);
        } finally {
          await h.close();
        }
      }
    });
  }
}

test('timers: a checkpoint of timers in the heap moves into the table', async () => {
  const heap = new TimerQueue();
  heap.add(5, 'a', 'a');
  heap.add(3, 'b', { id: 'b' });
  heap.add(4, 7, 7);
  const h = tableHarness(10);
  try {
    h.index.restore(JSON.parse(JSON.stringify(heap.snapshot())) as JsonValue);
    assert.deepEqual(h.index.pop(10), { time: 3, id: 'b', key: { id: 'b' } });
    assert.deepEqual(h.index.pop(10), { time: 4, id: 7, key: 7 }, 'a numeric key id comes back a number');
    assert.deepEqual(h.index.pop(10), { time: 5, id: 'a', key: 'a' });
    assert.equal(h.index.pop(10), undefined);
  } finally {
    await h.close();
  }
});

test('timers: a restart keeps the bucket width the timers were stored with', async () => {
  const tmp = tempDir();
  let state = new LmdbStateBackend({ dir: tmp.dir });
  try {
    state.recover(0, undefined);
    const before = new TableTimers(state, 't', 1000);
    before.add(5500, 'x', 'x');
    before.add(7000, 'y', 'y');
    const snapshot = JSON.parse(JSON.stringify(before.snapshot())) as JsonValue;
    const capture = state.capture();
    await state.committed(1, capture);
    await state.close();
    state = new LmdbStateBackend({ dir: tmp.dir });
    state.recover(1, capture);
    // A later version would bucket this operator's timers by 100 ms.
    const after = new TableTimers(state, 't', 100);
    after.restore(snapshot);
    assert.equal(after.cancel(5500, 'x'), true, 'the stored timer is found');
    assert.equal(after.add(7000, 'y', 'y'), false, 'and not added twice');
    assert.deepEqual(after.pop(8000), { time: 7000, id: 'y', key: 'y' });
    assert.equal(after.pop(8000), undefined);
  } finally {
    await state.close();
    tmp.remove();
  }
});

test('timer heap: every timer added comes out once per add, in time then key string order, also after a restore', () => {
  const random = prng(11);
  let heap = new TimerHeap();
  let model: [number, KeyId][] = [];
  const order = (a: [number, KeyId], b: [number, KeyId]) => a[0] - b[0] || (keyIdString(a[1]) < keyIdString(b[1]) ? -1 : keyIdString(a[1]) > keyIdString(b[1]) ? 1 : 0);
  const pool: KeyId[] = ['a', 'b', 'k10', 9, 10, 100, -3, 2.5];
  let now = 0;
  for (let step = 0; step < 5000; step++) {
    const r = random();
    if (r < 0.5) {
      const t = now + Math.floor(random() * 50);
      const k = pool[Math.floor(random() * pool.length)]!;
      heap.add(t, k, undefined); // the same timer twice is two timers
      model.push([t, k]);
    } else if (r < 0.95) {
      now += Math.floor(random() * 10);
      const due = model.filter(([t]) => t <= now).sort(order);
      const popped: [number, KeyId][] = [];
      for (let t = heap.pop(now); t !== undefined; t = heap.pop(now)) popped.push([t.time, t.id]);
      assert.deepEqual(popped, due);
      model = model.filter(([t]) => t > now);
      assert.equal(heap.size, model.length);
    } else {
      const snapshot = JSON.parse(JSON.stringify(heap.snapshot())) as JsonValue;
      heap = new TimerHeap();
      heap.restore(snapshot);
    }
  }
});

test('timers: many timers of one time, added in time order, come out in key order (memory)', () => {
  const random = prng(7);
  const schedule = new TimerHeap();
  // 60 keys at 100 (added shuffled), a few earlier ones out of order (these go to the heap), then 30
  // more at 100 while the first of them are being taken: each joins the group in its key's place.
  const keys = Array.from({ length: 90 }, (_, i): KeyId => (i % 3 === 0 ? `k${i}` : i));
  const first = keys.slice(0, 60).sort(() => random() - 0.5);
  for (const k of first) schedule.add(100, k, k);
  schedule.add(50, 'early', 'early');
  schedule.add(100, 'aa', 'aa');
  const out: KeyId[] = [];
  for (let i = 0; i < 10; i++) out.push(schedule.pop(100)!.id);
  for (const k of keys.slice(60)) schedule.add(100, k, k);
  schedule.add(101, 'later', 'later');
  for (let t = schedule.pop(200); t !== undefined; t = schedule.pop(200)) out.push(t.id);
  const byKeyString = (ks: KeyId[]) => [...ks].sort((a, b) => (keyIdString(a) < keyIdString(b) ? -1 : 1));
  const head = byKeyString([...keys.slice(0, 60), 'aa']);
  assert.deepEqual(out.slice(0, 10), ['early', ...head.slice(0, 9)]);
  assert.deepEqual(out.slice(10, -1), byKeyString([...head.slice(9), ...keys.slice(60)]));
  assert.equal(out.at(-1), 'later');
  assert.equal(schedule.empty, true);
});
