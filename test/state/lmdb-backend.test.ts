import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LmdbStateBackend } from '../../src/state/lmdb-backend.js';
import { MemoryStateBackend } from '../../src/state/memory-backend.js';
import { StateMismatchError } from '../../src/state/state-backend.js';
import { tempDir } from '../helpers/tmp.js';
import { stateBackendConformance } from './conformance.js';

stateBackendConformance('lmdb', () => {
  const tmp = tempDir();
  return { open: () => new LmdbStateBackend({ dir: tmp.dir }), remove: tmp.remove };
});

test('lmdb: a checkpoint holds only the changes of its epoch; many changes ask for an early commit', async () => {
  const tmp = tempDir();
  const state = new LmdbStateBackend({ dir: tmp.dir, maxPendingChanges: 500 });
  try {
    state.recover(0, undefined);
    const t = state.table<number>('t');
    for (let i = 0; i < 499; i++) t.put(`k${i}`, i);
    assert.equal(state.commitSoon, false);
    t.put('k0', 1); // the same key again: still 499 changes
    t.put('k499', 499);
    assert.equal(state.commitSoon, true);
    await state.committed(1, state.capture());
    t.put('k1', 2);
    t.delete('k2');
    const c = state.capture();
    assert.equal(c.mode, 'changes');
    assert.deepEqual(c.tables.t, [['k1', 2], ['k2', null]]);
    await state.committed(2, c);
    assert.equal(state.storedEpoch, 2);
    assert.equal(t.size, 499);
  } finally {
    await state.close();
    tmp.remove();
  }
});

test('lmdb: reads stay right when more keys were touched than the decoded values it keeps', async () => {
  const tmp = tempDir();
  const state = new LmdbStateBackend({ dir: tmp.dir, maxPendingChanges: 10 });
  try {
    state.recover(0, undefined);
    const t = state.table<{ n: number }>('t');
    let epoch = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) {
        const v = t.get(`k${i}`);
        assert.equal(v?.n, round === 0 ? undefined : round - 1, `k${i} in round ${round}`);
        t.put(`k${i}`, { n: round });
        if (i % 10 === 9) await state.committed(++epoch, state.capture());
      }
    }
    assert.equal(t.size, 200);
  } finally {
    await state.close();
    tmp.remove();
  }
});

test('lmdb: a key put and deleted within one epoch leaves nothing in the checkpoint', async () => {
  const tmp = tempDir();
  const state = new LmdbStateBackend({ dir: tmp.dir });
  try {
    state.recover(0, undefined);
    const t = state.table<number>('t');
    t.put('stored', 1);
    await state.committed(1, state.capture());
    t.put('brief', 2);
    t.delete('brief');
    t.put('stored', 3);
    t.delete('stored');
    assert.equal(state.pendingChanges, 1);
    assert.deepEqual(state.capture().tables.t, [['stored', null]]);
    // Put while its deletion is on its way to LMDB, then deleted again: still a deletion.
    t.put('stored', 4);
    t.delete('stored');
    assert.equal(t.get('stored'), undefined);
  } finally {
    await state.close();
    tmp.remove();
  }
});

test('lmdb: state that does not belong with the checkpoint is refused, naming both epochs', async () => {
  const tmp = tempDir();
  try {
    let state = new LmdbStateBackend({ dir: tmp.dir });
    state.recover(0, undefined);
    state.table<number>('t').put('a', 1);
    const c1 = state.capture();
    await state.committed(1, c1);
    const c2 = state.capture();
    await state.committed(2, c2);
    await state.close();
    state = new LmdbStateBackend({ dir: tmp.dir });
    assert.throws(() => state.recover(0, undefined), (e) => e instanceof StateMismatchError && e.code === 'state_mismatch' && /holds epoch 2, but the pipeline has no checkpoint/.test(e.message));
    assert.throws(() => state.recover(5, c2), /holds epoch 2, but the checkpoint is epoch 5/);
    await state.close();
  } finally {
    tmp.remove();
  }
});

test('lmdb takes over the state of a pipeline that ran on the memory backend', async () => {
  const tmp = tempDir();
  const memory = new MemoryStateBackend();
  memory.recover(0, undefined);
  memory.table<number>('t').put('a', 1);
  memory.table<number>('u').put('b', 2);
  const full = JSON.parse(JSON.stringify(memory.capture()));
  const state = new LmdbStateBackend({ dir: tmp.dir });
  try {
    state.recover(7, full);
    assert.equal(state.table<number>('t').get('a'), 1);
    assert.equal(state.table<number>('u').get('b'), 2);
    assert.equal(state.storedEpoch, 7);
  } finally {
    await state.close();
    tmp.remove();
  }
});

test('lmdb: tables that no operator opened are dropped at the first commit (a removed operator\'s state does not come back)', async () => {
  const tmp = tempDir();
  try {
    let state = new LmdbStateBackend({ dir: tmp.dir });
    state.recover(0, undefined);
    state.table<number>('old/keys').put('a', 1);
    state.table<number>('kept/keys').put('b', 2);
    let c = state.capture();
    await state.committed(1, c);
    await state.close();
    // The next version has no 'old' operator.
    state = new LmdbStateBackend({ dir: tmp.dir });
    state.table<number>('kept/keys');
    state.recover(1, c);
    assert.equal(state.table<number>('kept/keys').get('b'), 2);
    c = state.capture();
    await state.committed(2, c);
    await state.close();
    // A later version brings 'old' back: it starts empty.
    state = new LmdbStateBackend({ dir: tmp.dir });
    const old = state.table<number>('old/keys');
    state.recover(2, c);
    assert.equal(old.get('a'), undefined);
    assert.equal(old.size, 0);
    await state.close();
  } finally {
    tmp.remove();
  }
});

test('lmdb: a key longer than LMDB takes is refused when it is put, before any checkpoint holds it', async () => {
  const tmp = tempDir();
  const state = new LmdbStateBackend({ dir: tmp.dir });
  try {
    state.recover(0, undefined);
    const t = state.table<number>('t');
    assert.throws(() => t.put('k'.repeat(3000), 1), (e: unknown) => (e as { code?: string }).code === 'state_key_too_long' && /up to 1976 bytes/.test((e as Error).message));
    t.put('k'.repeat(1976), 1);
    await state.committed(1, state.capture());
    assert.equal(t.get('k'.repeat(1976)), 1);
  } finally {
    await state.close();
    tmp.remove();
  }
});
