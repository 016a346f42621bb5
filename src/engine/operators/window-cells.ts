import type { JsonValue } from '../../core/record.js';
import { keyIdOfString, keyIdString, type KeyId } from '../../state/key-id.js';
import { StateMismatchError, type StateBackend, type StateCodec, type StateTable } from '../../state/state-backend.js';

/**
 * What a windowed operator keeps per window and key (a time window's accumulators, a window join's
 * events), by window start and key id. Two layouts: in the heap for the memory backend, in a
 * table of the state backend for LMDB.
 */
export interface WindowCells<T> {
  /** Cells are objects in the heap: one from `get` stays the stored one until its window is dropped. */
  readonly holdsObjects: boolean;
  get(start: number, k: KeyId): T | undefined;
  /** Stores a new cell. */
  add(start: number, k: KeyId, cell: T): void;
  /** A cell from `get` was changed in place: tables store it again, the heap has it already. */
  touch(start: number, k: KeyId, cell: T): void;
  /** Whether the window holds cells. */
  has(start: number): boolean;
  starts(): Iterable<number>;
  /**
   * The window's cells (a copy: the caller may put while going through them), in an order that does
   * not depend on when checkpoints were taken: insertion order in the heap, key order in a table.
   */
  cells(start: number): T[];
  /** Drops a window and its cells. */
  drop(start: number): void;
  /** The operator checkpoint's part: every cell (heap), or the open windows' starts (table). */
  snapshot(): JsonValue;
  restore(snapshot: JsonValue): void;
}

/** A heap snapshot: per window, its cells as `[keyString, encoded cell]`. */
type HeapSnapshot = [start: number, cells: [string, JsonValue][]][];

/** Cells in the heap: a map per window; checkpoints hold them all (the memory state backend). */
class HeapWindowCells<T> implements WindowCells<T> {
  readonly holdsObjects = true;
  private windows = new Map<number, Map<KeyId, T>>();
  /** The window looked at last, and its cells: consecutive events mostly fall into the same window. */
  private lastStart = NaN;
  private lastCells: Map<KeyId, T> | undefined;
  constructor(private readonly codec: StateCodec<T>) {}
  private window(start: number): Map<KeyId, T> | undefined {
    if (start === this.lastStart) return this.lastCells;
    const byKey = this.windows.get(start);
    if (byKey !== undefined) {
      this.lastStart = start;
      this.lastCells = byKey;
    }
    return byKey;
  }
  get(start: number, k: KeyId): T | undefined {
    return this.window(start)?.get(k);
  }
  add(start: number, k: KeyId, cell: T): void {
    let byKey = this.window(start);
    if (!byKey) {
      this.windows.set(start, (byKey = new Map()));
      this.lastStart = start;
      this.lastCells = byKey;
    }
    byKey.set(k, cell);
  }
  touch(): void {}
  has(start: number): boolean {
    return this.window(start) !== undefined;
  }
  starts(): Iterable<number> {
    return this.windows.keys();
  }
  cells(start: number): T[] {
    return [...(this.windows.get(start)?.values() ?? [])];
  }
  drop(start: number): void {
    this.windows.delete(start);
    if (start === this.lastStart) this.forget();
  }
  private forget(): void {
    this.lastStart = NaN;
    this.lastCells = undefined;
  }
  snapshot(): JsonValue {
    return [...this.windows].map(([start, byKey]) => [start, [...byKey].map(([k, c]) => [keyIdString(k), this.codec.encode(c)])]) as JsonValue;
  }
  restore(snapshot: JsonValue): void {
    const windows = snapshot as HeapSnapshot | number[];
    if (windows.some((w) => typeof w === 'number')) {
      throw new StateMismatchError('the checkpoint keeps this window operator\'s state in LMDB: run the pipeline with state \'lmdb\'');
    }
    this.forget();
    this.windows = new Map((windows as HeapSnapshot).map(([start, cells]) => [start, new Map(cells.map(([k, json]) => [keyIdOfString(k), this.codec.decode(json)]))]));
  }
}

/**
 * Cells in a table of the state backend (LMDB: on disk, checkpoints hold the changes), keyed
 * `start NUL keyString`; the heap holds only the starts of the open windows.
 */
class TableWindowCells<T> implements WindowCells<T> {
  readonly holdsObjects = false;
  private open = new Set<number>();
  constructor(private readonly table: StateTable<T>, private readonly codec: StateCodec<T>) {}
  get(start: number, k: KeyId): T | undefined {
    return this.table.get(`${start}\u0000${k}`);
  }
  add(start: number, k: KeyId, cell: T): void {
    this.open.add(start);
    this.table.put(`${start}\u0000${k}`, cell);
  }
  touch(start: number, k: KeyId, cell: T): void {
    this.table.put(`${start}\u0000${k}`, cell);
  }
  has(start: number): boolean {
    return this.open.has(start);
  }
  starts(): Iterable<number> {
    return this.open;
  }
  cells(start: number): T[] {
    // A scan gives stored rows before this epoch's changes: sorted, so that a restart changes nothing.
    return [...this.table.scan(`${start}\u0000`)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, c]) => c);
  }
  drop(start: number): void {
    for (const [k] of [...this.table.scan(`${start}\u0000`)]) this.table.delete(k);
    this.open.delete(start);
  }
  snapshot(): JsonValue {
    return [...this.open];
  }
  restore(snapshot: JsonValue): void {
    this.open = new Set();
    for (const w of snapshot as (number | HeapSnapshot[number])[]) {
      if (typeof w === 'number') this.open.add(w);
      else for (const [k, json] of w[1]) this.add(w[0], keyIdOfString(k), this.codec.decode(json)); // a checkpoint of cells in the heap
    }
  }
}

/** The cells of windowed operator `name`: in the heap for the memory backend, in a table for LMDB. */
export function windowCells<T>(state: StateBackend | undefined, name: string, codec: StateCodec<T>): WindowCells<T> {
  return state?.kind === 'lmdb' ? new TableWindowCells(state.table(name, codec), codec) : new HeapWindowCells(codec);
}
