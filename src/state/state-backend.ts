/**
 * Where operators keep keyed state: tables of string keys, owned by one pipeline task. Two backends
 * share this interface and one conformance suite (`test/state/conformance.ts`):
 *
 * - `memory`: tables are maps of live objects; each checkpoint holds a full copy of them. The fastest;
 *   state must fit in the heap, and a checkpoint costs time in proportion to all the state.
 * - `lmdb`: tables live in an LMDB environment on disk; memory holds only what the current epoch
 *   touched. A checkpoint holds only the changes of its epoch, which are then applied to LMDB in one
 *   transaction: state larger than memory, checkpoints in proportion to what changed.
 *
 * The pipeline task's checkpoint file is the commit point for both: it holds what {@link StateBackend.capture}
 * returned, and after a crash {@link StateBackend.recover} brings the tables to exactly that epoch.
 */
import { RivuletError } from '../core/errors.js';
import type { JsonValue } from '../core/record.js';
import type { KeyId } from './key-id.js';

/**
 * How a table's values become JSON for checkpoints and disk and back. Without one, values must be JSON
 * values themselves (and are stored as they are).
 */
export interface StateCodec<V> {
  encode(value: V): JsonValue;
  decode(json: JsonValue): V;
}

/**
 * One table of keyed state. A value read with `get` may be changed in place, but only a `put` makes the
 * change part of the state: backends that keep state outside the heap store what was put.
 *
 * Keys are key ids ({@link KeyId}): a number stands for its string, which is what checkpoints and disk
 * hold, and keys read back (`entries`, `scan`, a restored checkpoint) are key ids again — a key that
 * reads as a number comes back as that number. A composite key (`window NUL key`) is a string.
 */
export interface StateTable<V> {
  get(key: KeyId): V | undefined;
  put(key: KeyId, value: V): void;
  delete(key: KeyId): void;
  /** Every entry, in no particular order; the table must not change while this is iterated. */
  entries(): Iterable<[KeyId, V]>;
  /**
   * The entries whose key starts with `prefix` (e.g. one window's keys), in no particular order; the
   * table must not change while this is iterated. LMDB reads just that range; the memory backend
   * looks at every entry, so operators on memory state keep their own index instead.
   */
  scan(prefix: string): Iterable<[KeyId, V]>;
  /** Number of keys. */
  readonly size: number;
  /**
   * True when `get` returns the stored object itself, so that a change made to it in place is in the
   * table without a `put` (the memory backend). Operators then put only new keys.
   */
  readonly holdsObjects?: boolean;
}

/** What a checkpoint holds of a backend's tables: all of them, or the changes of one epoch (`null`: deleted). */
export interface StateCapture {
  mode: 'full' | 'changes';
  tables: Record<string, [string, JsonValue | null][]>;
}

/** The state of one pipeline task. */
export interface StateBackend {
  readonly kind: 'memory' | 'lmdb';
  /** The table called `name` (one per operator and purpose, e.g. `aggregate-3/keys`), created when new. */
  table<V>(name: string, codec?: StateCodec<V>): StateTable<V>;
  /** Changes waiting for the next checkpoint. */
  readonly pendingChanges: number;
  /** True when so many changes wait that the task should commit now rather than at its interval. */
  readonly commitSoon: boolean;
  /** What the checkpoint of the epoch that ends now must hold; the backend starts a new epoch. */
  capture(): StateCapture;
  /**
   * Called once the checkpoint holding `capture` is durable as epoch `epoch`. The backend applies it
   * before returning (reads see it); the promise resolves when it is on disk too. The task awaits that
   * before its next checkpoint, so the backend is never more than one epoch behind.
   */
  committed(epoch: number, capture: StateCapture): Promise<void>;
  /**
   * Brings the tables to the state of committed epoch `epoch`, whose checkpoint held `capture`
   * (`undefined`: no checkpoint, the tables start empty). Call before any table is read.
   */
  recover(epoch: number, capture: StateCapture | undefined): void;
  /**
   * Copies the state as of the last commit into `dir`, for a savepoint (nothing for backends whose
   * captures hold the whole state).
   */
  backup(dir: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Which state backend a pipeline uses; see {@link StateBackend} for the trade-off.
 *
 * @example
 * ```ts
 * definePipeline({ name: 'sessions', state: { kind: 'lmdb', maxPendingChanges: 50_000 }, setup(app) { … } });
 * ```
 */
export type StateBackendOptions =
  | { kind: 'memory' }
  | {
    kind: 'lmdb';
    /** Changed entries of the current epoch kept in memory before the task commits early. Default 100,000. */
    maxPendingChanges?: number;
  };

/** A state backend refused to start: its data does not belong with the pipeline's checkpoint. */
export class StateMismatchError extends RivuletError {
  override name = 'StateMismatchError';
  constructor(message: string) {
    super('state_mismatch', message);
  }
}
