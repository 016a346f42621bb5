import { RivuletError } from '../core/errors.js';

/** A stored document and the version it has. */
export interface VersionedDocument {
  data: Uint8Array;
  /** 1 after the first write; each write adds one. */
  version: number;
}

/** A write of a document found another version than it expected: someone else wrote it since. */
export class VersionConflictError extends RivuletError {
  override name = 'VersionConflictError';
  constructor(readonly document: string, readonly expected: number, readonly actual: number) {
    super('version_conflict', `document '${document}' is at version ${actual}, not ${expected}: another process wrote it`);
  }
}

/** Who holds a lease, and until when (wall clock of the process that took it). */
export interface LeaseHolder {
  name: string;
  owner: string;
  expiresAt: number;
}

/**
 * What processes that share a log need besides the log to work together, kept on the same servers:
 * documents written with compare-and-set (a pipeline task's checkpoint, which any worker can then
 * restore) and leases (which worker runs which task, and which workers are alive).
 *
 * Each backend implements it with its server's own means (JetStream key-value buckets and a stream,
 * Redis keys and scripts, files and memory for the embedded log); all pass one conformance suite.
 */
export interface Coordination {
  /** The document, or `undefined` when it was never written (or was deleted). */
  getDocument(name: string): Promise<VersionedDocument | undefined>;
  /**
   * Replaces the document if its version is still `expected` (0: it must not exist), and returns the
   * new version; fails with {@link VersionConflictError} otherwise and changes nothing.
   */
  putDocument(name: string, data: Uint8Array, expected: number): Promise<number>;
  deleteDocument(name: string): Promise<void>;
  /**
   * Takes the lease for `ttlMs` from now when it is free, expired or already `owner`'s (a renewal).
   * Resolves `true` when `owner` holds it afterwards, `false` when someone else does.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `owner` holds it. */
  releaseLease(name: string, owner: string): Promise<void>;
  /** The unexpired leases whose names start with `prefix`. */
  leases(prefix: string): Promise<LeaseHolder[]>;
}

/** A log that can coordinate the processes sharing it. */
export interface CoordinatedLog {
  coordination(): Coordination;
}

/** Whether a log offers {@link Coordination}. */
export function hasCoordination(log: unknown): log is CoordinatedLog {
  return typeof (log as Partial<CoordinatedLog>).coordination === 'function';
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._/-]{0,399}$/;

/** Checks a document or lease name: letters, digits, `.`, `_`, `-`, `/`. */
export function checkCoordinationName(name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new RivuletError('invalid_name', `invalid document or lease name '${String(name)}': use letters, digits, '.', '_', '-' and '/'`);
  }
  return name;
}
