import type { JsonValue } from '../core/record.js';
import { keyIdOfString, keyIdString, type KeyId } from './key-id.js';
import { StateMismatchError, type StateBackend, type StateCapture, type StateCodec, type StateTable } from './state-backend.js';

const identity: StateCodec<unknown> = { encode: (v) => v as JsonValue, decode: (j) => j };

class MemoryTable<V> implements StateTable<V> {
  readonly map = new Map<KeyId, V>();
  readonly holdsObjects = true;
  constructor(readonly codec: StateCodec<V>) {}
  get(key: KeyId): V | undefined {
    return this.map.get(key);
  }
  put(key: KeyId, value: V): void {
    this.map.set(key, value);
  }
  delete(key: KeyId): void {
    this.map.delete(key);
  }
  entries(): Iterable<[KeyId, V]> {
    return this.map.entries();
  }
  *scan(prefix: string): Iterable<[KeyId, V]> {
    for (const e of this.map) if (keyIdString(e[0]).startsWith(prefix)) yield e;
  }
  get size(): number {
    return this.map.size;
  }
}

/**
 * Keyed state in the heap: tables are maps of live objects, and every checkpoint holds all of them.
 * The default backend; see {@link StateBackend} for when to choose LMDB instead.
 *
 * @example
 * ```ts
 * const state = new MemoryStateBackend();
 * const counts = state.table<number>('count-per-card');
 * counts.put('card-1', 3);
 * const checkpoint = state.capture(); // { mode: 'full', tables: { 'count-per-card': [['card-1', 3]] } }
 * ```
 */
export class MemoryStateBackend implements StateBackend {
  readonly kind = 'memory';
  private readonly tables = new Map<string, MemoryTable<unknown>>();
  private restored: StateCapture | undefined;

  table<V>(name: string, codec?: StateCodec<V>): StateTable<V> {
    let t = this.tables.get(name) as MemoryTable<V> | undefined;
    if (!t) {
      t = new MemoryTable<V>(codec ?? (identity as StateCodec<V>));
      this.tables.set(name, t as MemoryTable<unknown>);
      for (const [key, json] of this.restored?.tables[name] ?? []) if (json !== null) t.put(keyIdOfString(key), t.codec.decode(json));
    }
    return t;
  }

  /** A memory backend has nothing pending: its whole state goes into every checkpoint. */
  get pendingChanges(): number {
    return 0;
  }

  get commitSoon(): boolean {
    return false;
  }

  capture(): StateCapture {
    this.restored = undefined; // tables made later start empty; no need to keep the restored copy
    const tables: StateCapture['tables'] = {};
    for (const [name, t] of this.tables) {
      const rows: [string, JsonValue][] = new Array(t.map.size);
      let i = 0;
      for (const [key, v] of t.map) rows[i++] = [keyIdString(key), t.codec.encode(v)];
      tables[name] = rows;
    }
    return { mode: 'full', tables };
  }

  async committed(): Promise<void> {}

  recover(_epoch: number, capture: StateCapture | undefined): void {
    if (capture?.mode === 'changes') {
      throw new StateMismatchError('the checkpoint holds only the changes of its epoch: it was written with the LMDB state backend, whose data the memory backend does not read; run the pipeline with state \'lmdb\'');
    }
    this.restored = capture;
    for (const [name, t] of this.tables) {
      t.map.clear();
      for (const [key, json] of capture?.tables[name] ?? []) if (json !== null) t.put(keyIdOfString(key), t.codec.decode(json));
    }
  }

  /** Nothing to copy: every checkpoint holds the whole state. */
  async backup(): Promise<void> {}

  async close(): Promise<void> {}
}
