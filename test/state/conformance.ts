/**
 * The conformance suite every state backend passes: tables read their own writes, checkpoints and
 * restarts bring back exactly the state of the last committed epoch — also after a crash between the
 * checkpoint and the backend's own write — and codecs carry values that are not JSON.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StateBackend, StateCapture, StateCodec } from '../../src/state/state-backend.js';
import { type KeyId, keyIdString } from '../../src/state/key-id.js';
import { prng } from '../helpers/prng.js';

/** Storage for one backend: `open()` gives a new instance over it, as a restarted process would. */
export interface BackendStorage {
  open(): StateBackend;
  remove(): void;
}

/** The committed checkpoint as a pipeline task keeps it: the epoch and what the backend captured. */
interface Committed {
  epoch: number;
  capture: StateCapture | undefined;
}

const sorted = <V>(entries: Iterable<[KeyId, V]>) => [...entries].map(([k, v]): [string, V] => [keyIdString(k), v]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

const setCodec: StateCodec<Set<number>> = { encode: (s) => [...s], decode: (j) => new Set(j as number[]) };

export function stateBackendConformance(name: string, storage: () => BackendStorage): void {
  describe(`state backend conformance: ${name}`, () => {
    test('a table reads its own writes; deletes and sizes; tables are separate', async () => {
      const s = storage();
      const state = s.open();
      try {
        state.recover(0, undefined);
        const a = state.table<{ n: number }>('op-1/keys');
        const b = state.table<number>('op-2/keys');
        assert.equal(state.table('op-1/keys'), a, 'the same name gives the same table');
        a.put('x', { n: 1 });
        a.put('y', { n: 2 });
        b.put('x', 10);
        assert.deepEqual(a.get('x'), { n: 1 });
        assert.equal(b.get('x'), 10);
        assert.equal(a.get('z'), undefined);
        a.delete('y');
        a.delete('never');
        assert.equal(a.size, 1);
        assert.equal(b.size, 1);
        assert.deepEqual(sorted(a.entries()), [['x', { n: 1 }]]);
        // A value changed in place and put again is the new value.
        const x = a.get('x')!;
        x.n = 5;
        a.put('x', x);
        assert.deepEqual(a.get('x'), { n: 5 });
      } finally {
        await state.close();
        s.remove();
      }
    });

    test('scan gives the entries of a prefix: stored, changed and deleted ones as the table holds them now', async () => {
      const s = storage();
      const state = s.open();
      try {
        state.recover(0, undefined);
        const t = state.table<number>('w');
        const other = state.table<number>('w2');
        for (const start of [10, 20, 100]) for (const k of ['a', 'b', 'é', '😀']) t.put(`${start}\u0000${k}`, start);
        other.put('10\u0000a', -1);
        await state.committed(1, state.capture());
        t.put('10\u0000c', 11);
        t.delete('10\u0000b');
        t.put('10\u0000a', 12);
        const got = sorted(t.scan('10\u0000'));
        assert.deepEqual(got, sorted([['10\u0000a', 12], ['10\u0000c', 11], ['10\u0000é', 10], ['10\u0000😀', 10]]));
        assert.equal([...t.scan('100\u0000')].length, 4);
        assert.equal([...t.scan('30\u0000')].length, 0);
        assert.equal([...t.scan('')].length, 12 - 1 + 1);
        // While a checkpoint's changes are on their way to the backend's storage, and after.
        const capture = state.capture();
        t.put('10\u0000d', 13);
        t.delete('10\u0000c');
        const expected = sorted([['10\u0000a', 12], ['10\u0000d', 13], ['10\u0000é', 10], ['10\u0000😀', 10]]);
        assert.deepEqual(sorted(t.scan('10\u0000')), expected);
        await state.committed(2, capture);
        assert.deepEqual(sorted(t.scan('10\u0000')), expected);
        assert.deepEqual(sorted(t.scan('1')).length, 8);
      } finally {
        await state.close();
        s.remove();
      }
    });

    test('a restart brings back the last committed epoch, also when the backend had not stored it yet', async () => {
      const s = storage();
      try {
        let state = s.open();
        state.recover(0, undefined);
        const t = state.table<number>('t');
        for (let i = 0; i < 100; i++) t.put(`k${i}`, i);
        const c1 = state.capture();
        await state.committed(1, c1);
        t.put('k1', -1);
        t.delete('k2');
        t.put('new', 7);
        // The checkpoint of epoch 2 is written, then the process dies before the backend stored it.
        const c2 = JSON.parse(JSON.stringify(state.capture())) as StateCapture;
        await state.close();
        state = s.open();
        state.recover(2, c2);
        const r = state.table<number>('t');
        assert.equal(r.get('k1'), -1);
        assert.equal(r.get('k2'), undefined);
        assert.equal(r.get('new'), 7);
        assert.equal(r.get('k50'), 50);
        assert.equal(r.size, 100);
        // Changes after the last checkpoint are gone after a crash.
        r.put('k3', 333);
        await state.close();
        state = s.open();
        state.recover(2, c2);
        assert.equal(state.table<number>('t').get('k3'), 3);
        await state.close();
      } finally {
        s.remove();
      }
    });

    test('numeric key ids are stored as their key strings and come back as numbers, in and out of a checkpoint', async () => {
      const s = storage();
      try {
        let state = s.open();
        state.recover(0, undefined);
        const t = state.table<string>('t');
        for (const k of [5, -1.5, 1e21, 0, 10]) t.put(k, `n${k}`);
        t.put('a', 'a');
        t.put('5\u0000x', 'row');
        await state.committed(1, state.capture());
        t.put(7, 'n7'); // held since the last commit: a crash loses it
        t.put(10, 'changed');
        const c2 = JSON.parse(JSON.stringify(state.capture())) as StateCapture;
        await state.close();
        state = s.open();
        const opened = state.table<string>('t'); // an operator's table, made before the recovery
        state.recover(2, c2);
        const r = state.table<string>('t');
        assert.equal(r, opened);
        assert.equal(r.get(5), 'n5');
        assert.equal(r.get(1e21), 'n1e+21');
        assert.equal(r.get(10), 'changed');
        assert.equal(r.get(7), 'n7');
        const ids = [...r.entries()].map(([k]) => k);
        for (const k of [5, -1.5, 1e21, 0, 10, 7]) assert.ok(ids.includes(k), `key id ${k} comes back as the number`);
        assert.ok(ids.includes('a') && ids.includes('5\u0000x'), 'string ids stay strings');
        assert.deepEqual([...r.scan('5')].map(([k]) => k).sort(), [5, '5\u0000x'], 'a scan yields canonical ids');
        await state.close();
      } finally {
        s.remove();
      }
    });

    test('random changes, commits and crashes at every step: the state is always that of the last commit', async () => {
      const s = storage();
      const rand = prng(11);
      const names = ['a/keys', 'b/keys', 'c/state'];
      let model = new Map(names.map((n) => [n, new Map<string, number>()]));
      let committedModel = structuredClone(model);
      let committed: Committed = { epoch: 0, capture: undefined };
      let state = s.open();
      try {
        state.recover(0, undefined);
        const check = () => {
          for (const n of names) assert.deepEqual(sorted(state.table<number>(n).entries()), sorted(model.get(n)!), `table ${n}`);
          for (const n of names) assert.equal(state.table<number>(n).size, model.get(n)!.size, `size of ${n}`);
        };
        for (let step = 0; step < 400; step++) {
          const r = rand();
          if (r < 0.6) {
            const n = names[Math.floor(rand() * names.length)]!;
            const key = `k${Math.floor(rand() * 40)}`;
            if (rand() < 0.75) {
              const v = Math.floor(rand() * 1000);
              state.table<number>(n).put(key, v);
              model.get(n)!.set(key, v);
            } else {
              state.table<number>(n).delete(key);
              model.get(n)!.delete(key);
            }
            assert.equal(state.table<number>(n).get(key), model.get(n)!.get(key));
          } else if (r < 0.8) {
            const capture = JSON.parse(JSON.stringify(state.capture())) as StateCapture;
            committed = { epoch: committed.epoch + 1, capture };
            committedModel = structuredClone(model);
            if (rand() < 0.7) await state.committed(committed.epoch, capture);
            else {
              // Crash after the checkpoint, before the backend stored it.
              await state.close();
              state = s.open();
              state.recover(committed.epoch, committed.capture);
            }
          } else if (r < 0.9) {
            await state.close();
            state = s.open();
            state.recover(committed.epoch, committed.capture);
            model = structuredClone(committedModel);
          }
          check();
        }
      } finally {
        await state.close();
        s.remove();
      }
    });

    test('a codec carries values that are not JSON through checkpoints and restarts', async () => {
      const s = storage();
      try {
        let state = s.open();
        state.recover(0, undefined);
        state.table('sets', setCodec).put('a', new Set([1, 2, 3]));
        const c = JSON.parse(JSON.stringify(state.capture())) as StateCapture;
        await state.committed(1, c);
        await state.close();
        state = s.open();
        state.recover(1, c);
        const v = state.table('sets', setCodec).get('a');
        assert.ok(v instanceof Set);
        assert.deepEqual([...v], [1, 2, 3]);
        await state.close();
      } finally {
        s.remove();
      }
    });
  });
}
