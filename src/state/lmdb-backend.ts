import fs from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import { InvalidArgumentError } from '../core/errors.js';
import type { JsonValue } from '../core/record.js';
import { StateMismatchError, type StateBackend, type StateCapture, type StateCodec, type StateTable } from './state-backend.js';
import { keyIdOfString, keyIdString, type KeyId } from './key-id.js';

const identity: StateCodec<unknown> = { encode: (v) => v as JsonValue, decode: (j) => j };
/** The key of the committed epoch; table keys start with a table name, never with NUL. */
const EPOCH_KEY = '\u0000epoch';
const DELETED = Symbol('deleted');

/** The LMDB key of a table's key: table keys are contiguous, and never start with NUL. */
function tableKey(table: string, key: string): string {
  return `${table}\u0000${key}`;
}

/** A capture's rows as LMDB keys and values (`null`: delete). */
function* storedRows(capture: StateCapture): Iterable<[string, JsonValue | null]> {
  for (const [name, rows] of Object.entries(capture.tables)) for (const [key, json] of rows) yield [tableKey(name, key), json];
}
/** lmdb-js's largest key (its default build), in bytes. */
const MAX_KEY_BYTES = 1978;

/** Options of {@link LmdbStateBackend}. */
export interface LmdbStateBackendOptions {
  /** Directory of the LMDB environment (created when missing). */
  dir: string;
  /** Changes of the current epoch kept in memory before the task should commit. Default 100,000. */
  maxPendingChanges?: number;
}

/** The part of a key up to and including its first NUL ('' without one): what `scan` prefixes usually are. */
function groupOf(key: string): string {
  const at = key.indexOf('\u0000');
  return at < 0 ? '' : key.slice(0, at + 1);
}

/** Keys held in memory (changed, or in flight to LMDB), indexed by {@link groupOf} for scans. */
class HeldKeys {
  private readonly groups = new Map<string, Set<string>>();
  add(key: string): void {
    const g = groupOf(key);
    if (g === '') return;
    let set = this.groups.get(g);
    if (!set) this.groups.set(g, (set = new Set()));
    set.add(key);
  }
  /** The held keys of group `prefix`, or undefined when `prefix` is not a group (then look at all). */
  inGroup(prefix: string): Iterable<string> | undefined {
    if (prefix === '' || prefix.indexOf('\u0000') !== prefix.length - 1) return undefined;
    return this.groups.get(prefix) ?? [];
  }
}

class LmdbTable<V> implements StateTable<V> {
  /** This epoch's puts and deletes, not in a checkpoint yet. */
  changes = new Map<string, V | typeof DELETED>();
  /** The last epoch's changes: in a checkpoint, being written to LMDB. */
  inflight = new Map<string, V | typeof DELETED>();
  /** The keys of `changes` and `inflight` by group, so that a scan of one window or bucket reads only its own. */
  changedKeys = new HeldKeys();
  inflightKeys = new HeldKeys();
  /**
   * Values as LMDB holds them, decoded: the last epochs' changes once written, and keys read since.
   * Without it every key an epoch touches would be decoded from LMDB again after each commit. At most
   * the backend's `maxPendingChanges` entries; the oldest go first.
   */
  private readonly clean = new Map<string, V>();

  constructor(private readonly backend: LmdbStateBackend, private readonly db: RootDatabase, readonly name: string, readonly codec: StateCodec<V>) {}

  dbKey(key: string): string {
    return tableKey(this.name, key);
  }

  private stored(key: string): V | typeof DELETED | undefined {
    const c = this.changes.get(key);
    if (c !== undefined) return c;
    const f = this.inflight.get(key);
    if (f !== undefined) return f;
    const cached = this.clean.get(key);
    if (cached !== undefined) return cached;
    const raw = this.db.get(this.dbKey(key)) as JsonValue | undefined;
    if (raw === undefined) return undefined;
    const v = this.codec.decode(raw);
    this.remember(key, v);
    return v;
  }

  private remember(key: string, v: V): void {
    this.clean.set(key, v);
    if (this.clean.size <= this.backend.maxPendingChanges) return;
    // The older half goes in one pass: deleting one entry at a time from the front of a Map costs a
    // walk over the holes earlier deletions left there.
    let drop = this.clean.size - (this.backend.maxPendingChanges >> 1);
    for (const k of this.clean.keys()) {
      if (drop-- <= 0) break;
      this.clean.delete(k);
    }
  }

  /** The epoch in flight is in LMDB now: its values are what LMDB holds. */
  settled(): void {
    for (const [k, v] of this.inflight) {
      this.clean.delete(k); // re-inserted at the end: the most recent stay longest
      if (v !== DELETED) this.remember(k, v);
    }
    this.inflight = new Map();
    this.inflightKeys = new HeldKeys();
  }

  /** LMDB was written to directly (recovery): nothing decoded before may be trusted. */
  forget(): void {
    this.clean.clear();
  }

  // Key ids become the key strings they stand for: disk and checkpoints hold strings (see key-id.ts).
  get(id: KeyId): V | undefined {
    const v = this.stored(keyIdString(id));
    return v === DELETED ? undefined : v;
  }

  put(id: KeyId, value: V): void {
    const key = keyIdString(id);
    if (!this.changes.has(key)) {
      // Refused here, before a checkpoint holds it: LMDB would refuse it when the commit applies it.
      if (Buffer.byteLength(this.dbKey(key)) > MAX_KEY_BYTES) {
        throw new InvalidArgumentError(`state key of table '${this.name}' is ${Buffer.byteLength(key)} bytes; the LMDB state backend takes keys up to ${MAX_KEY_BYTES - this.name.length - 1} bytes`, 'state_key_too_long');
      }
      this.backend.pending++;
      this.changedKeys.add(key);
    }
    this.changes.set(key, value);
  }

  delete(id: KeyId): void {
    const key = keyIdString(id);
    if (!this.changes.has(key)) {
      this.backend.pending++;
      this.changedKeys.add(key);
    } else {
      // Put in this epoch and absent before it (a short-lived timer, a window that opened and closed):
      // forgotten rather than recorded as a deletion, so checkpoints grow with the state, not the traffic.
      const before = this.inflight.get(key);
      if (before === DELETED || (before === undefined && !this.db.doesExist(this.dbKey(key)))) {
        this.changes.delete(key);
        this.backend.pending--;
        return;
      }
    }
    this.changes.set(key, DELETED);
  }

  entries(): Iterable<[KeyId, V]> {
    return this.scan('');
  }

  *scan(keyPrefix: string): Iterable<[KeyId, V]> {
    for (const [k, v] of this.scanStrings(keyPrefix)) yield [keyIdOfString(k), v];
  }

  private *scanStrings(keyPrefix: string): Iterable<[string, V]> {
    const prefix = `${this.name}\u0000`;
    const from = prefix + keyPrefix;
    // The keys with a prefix are contiguous in LMDB's byte order: read from the prefix until one differs.
    for (const { key, value } of this.db.getRange({ start: from })) {
      if (typeof key !== 'string' || !key.startsWith(from)) break;
      const k = key.slice(prefix.length);
      if (this.changes.has(k) || this.inflight.has(k)) continue;
      yield [k, this.codec.decode(value as JsonValue)];
    }
    const inflight = this.inflightKeys.inGroup(keyPrefix);
    if (inflight) {
      for (const k of inflight) {
        const v = this.inflight.get(k);
        if (v !== undefined && v !== DELETED && !this.changes.has(k)) yield [k, v];
      }
    } else {
      for (const [k, v] of this.inflight) if (k.startsWith(keyPrefix) && !this.changes.has(k) && v !== DELETED) yield [k, v];
    }
    const changed = this.changedKeys.inGroup(keyPrefix);
    if (changed) {
      for (const k of changed) {
        const v = this.changes.get(k);
        if (v !== undefined && v !== DELETED) yield [k, v];
      }
    } else {
      for (const [k, v] of this.changes) if (k.startsWith(keyPrefix) && v !== DELETED) yield [k, v];
    }
  }

  /** Counted when asked (rarely): LMDB's keys, adjusted by what the held changes add and remove. */
  get size(): number {
    let n = this.db.getKeysCount({ start: `${this.name}\u0000`, end: `${this.name}\u0001` });
    const held = new Map(this.inflight);
    for (const [k, v] of this.changes) held.set(k, v);
    for (const [k, v] of held) {
      const inDb = this.db.doesExist(this.dbKey(k));
      if (v === DELETED && inDb) n--;
      else if (v !== DELETED && !inDb) n++;
    }
    return n;
  }
}

/**
 * Keyed state on disk in LMDB: larger than memory, with checkpoints that hold only what changed.
 *
 * During an epoch, puts and deletes collect in memory (reads see them first, then LMDB). A checkpoint
 * takes them as its `changes`; once the checkpoint is durable they are written to LMDB in one
 * transaction together with the epoch number. After a crash between the two, `recover` finds LMDB one
 * epoch behind and applies the checkpoint's changes: the checkpoint file stays the only commit point.
 *
 * @example
 * ```ts
 * const state = new LmdbStateBackend({ dir: './data/state/sessions' });
 * state.recover(0, undefined);
 * state.table<number>('count-per-card').put('card-1', 3);
 * const capture = state.capture();      // write it into the checkpoint of epoch 1, then:
 * await state.committed(1, capture);    // now in LMDB
 * ```
 */
export class LmdbStateBackend implements StateBackend {
  readonly kind = 'lmdb';
  private readonly db: RootDatabase;
  private readonly tables = new Map<string, LmdbTable<unknown>>();
  /** @internal Changes waiting for the next checkpoint, counted by the tables. */
  pending = 0;
  readonly maxPendingChanges: number;

  constructor(options: LmdbStateBackendOptions) {
    fs.mkdirSync(options.dir, { recursive: true });
    this.db = open({ path: options.dir, compression: false });
    this.maxPendingChanges = options.maxPendingChanges ?? 100_000;
  }

  table<V>(name: string, codec?: StateCodec<V>): StateTable<V> {
    if (name.includes('\u0000') || name === '') throw new Error(`state table name must be non-empty without NUL, got ${JSON.stringify(name)}`);
    let t = this.tables.get(name) as LmdbTable<V> | undefined;
    if (!t) {
      t = new LmdbTable<V>(this, this.db, name, codec ?? (identity as StateCodec<V>));
      this.tables.set(name, t as LmdbTable<unknown>);
    }
    return t;
  }

  get pendingChanges(): number {
    return this.pending;
  }

  get commitSoon(): boolean {
    return this.pending >= this.maxPendingChanges;
  }

  /** The epoch whose state LMDB holds (0: none). */
  get storedEpoch(): number {
    return (this.db.get(EPOCH_KEY) as number | undefined) ?? 0;
  }

  capture(): StateCapture {
    if (!this.swept) {
      this.swept = true;
      this.dropOtherTables();
    }
    const tables: StateCapture['tables'] = {};
    for (const [name, t] of this.tables) {
      if (t.changes.size === 0) continue;
      const rows: [string, JsonValue | null][] = [];
      for (const [key, v] of t.changes) {
        rows.push([key, v === DELETED ? null : t.codec.encode(v)]);
        t.inflight.set(key, v); // kept readable until LMDB has it (see committed())
        t.inflightKeys.add(key);
      }
      tables[name] = rows;
      t.changes = new Map();
      t.changedKeys = new HeldKeys();
    }
    this.pending = 0;
    return { mode: 'changes', tables };
  }

  async committed(epoch: number, capture: StateCapture): Promise<void> {
    // Asynchronous puts of one event turn form one transaction, written by LMDB's write thread while
    // the task goes on; reads use the held copy (`inflight`) until it is committed.
    let failure: unknown;
    const noteFailure = (p: Promise<unknown>) => p.catch((err: unknown) => { failure ??= err; });
    for (const [k, json] of storedRows(capture)) void noteFailure(json === null ? this.db.remove(k) : this.db.put(k, json));
    // The last write of the transaction: it resolves when the whole transaction has committed.
    await this.db.put(EPOCH_KEY, epoch);
    if (failure !== undefined) throw failure;
    for (const t of this.tables.values()) t.settled();
    await this.db.flushed;
  }

  /** Writes a capture (at recovery) and the epoch in one synchronous transaction. */
  private write(epoch: number, capture: StateCapture): void {
    this.db.transactionSync(() => {
      if (capture.mode === 'full') {
        const old = [...this.db.getKeys({ start: '\u0001' })].filter((k) => typeof k === 'string' && k.includes('\u0000'));
        for (const k of old) this.db.removeSync(k);
      }
      for (const [k, json] of storedRows(capture)) {
        if (json === null) this.db.removeSync(k);
        else this.db.putSync(k, json);
      }
      this.db.putSync(EPOCH_KEY, epoch);
    });
    for (const t of this.tables.values()) t.forget();
  }

  /** Whether the first capture since opening has dropped the tables no operator opened. */
  private swept = false;

  /**
   * Deletes the tables no operator opened by the first commit: state of operators the pipeline no longer
   * has, which must not come back if an operator with the same id returns later (the memory backend
   * forgets it too).
   */
  private dropOtherTables(): void {
    let cursor = '\u0001';
    for (;;) {
      const [first] = this.db.getKeys({ start: cursor, limit: 1 });
      if (typeof first !== 'string') return;
      const cut = first.indexOf('\u0000');
      if (cut < 0) return;
      const name = first.slice(0, cut);
      if (!this.tables.has(name)) {
        const doomed = [...this.db.getKeys({ start: `${name}\u0000`, end: `${name}\u0001` })];
        this.db.transactionSync(() => {
          for (const k of doomed) this.db.removeSync(k);
        });
      }
      cursor = `${name}\u0001`;
    }
  }

  recover(epoch: number, capture: StateCapture | undefined): void {
    const stored = this.storedEpoch;
    if (capture === undefined) {
      if (stored !== 0) throw new StateMismatchError(`the LMDB state holds epoch ${stored}, but the pipeline has no checkpoint: remove the state directory to start over`);
      return;
    }
    if (capture.mode === 'full') {
      // A checkpoint of the memory backend: LMDB takes over its whole state.
      this.write(epoch, capture);
      return;
    }
    if (stored === epoch) return;
    if (stored === epoch - 1) {
      this.write(epoch, capture);
      return;
    }
    throw new StateMismatchError(`the LMDB state holds epoch ${stored}, but the checkpoint is epoch ${epoch}: they belong to different runs`);
  }

  /** Copies the LMDB environment (as of its last transaction: the last commit) to `dir`/data.mdb. */
  async backup(dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    await this.db.backup(dir, false);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
