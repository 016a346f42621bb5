import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStateBackend } from '../../src/state/memory-backend.js';
import { stateBackendConformance } from './conformance.js';

stateBackendConformance('memory', () => ({ open: () => new MemoryStateBackend(), remove: () => {} }));

test('memory: every checkpoint holds the whole state', () => {
  const state = new MemoryStateBackend();
  state.recover(0, undefined);
  const t = state.table<number>('t');
  for (let i = 0; i < 1000; i++) t.put(`k${i}`, i);
  state.capture();
  t.put('k1', 2);
  const c = state.capture();
  assert.equal(c.mode, 'full');
  assert.equal(c.tables.t!.length, 1000);
});
