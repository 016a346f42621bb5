import fs from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../../core/durable-fs.js';
import { RivuletError } from '../../core/errors.js';
import type { StateCapture } from '../../state/state-backend.js';
import type { SealedTopicOutputs } from './epoch-outputs.js';

/** Where a source's partitions were when an epoch committed. */
export interface SourceCheckpoint {
  /** Next offset to read, per partition. */
  positions: number[];
  /** Largest event time read, per partition (`null`: none yet). */
  maxTs: (number | null)[];
}

/**
 * A pipeline's committed epoch: everything needed to go on as if the process had never stopped.
 * Written atomically; the last one on disk is the state of the pipeline. The small fields come first,
 * so that tools can read the progress from the head of the file.
 */
export interface Checkpoint {
  version: 2;
  pipeline: string;
  /** Commits so far, this one included. */
  epoch: number;
  committedAt: number;
  /** Events read and output records written, up to and with this epoch. */
  eventsIn: number;
  recordsOut: number;
  watermark: number | null;
  sources: Record<string, SourceCheckpoint>;
  /** The shape of each stateful operator's state, by id (see `state-schema.ts`). */
  schemas?: Record<string, string>;
  /** Each stateful operator's snapshot, by stable id (what it keeps outside the state backend). */
  operators: Record<string, unknown>;
  /** The state backend's tables: all of them (memory) or this epoch's changes (LMDB). */
  state?: StateCapture;
  /** The epoch's outputs: appended after the commit, repaired from here when a crash came first. */
  outputs: SealedTopicOutputs[];
  /** Round-robin position per output topic, for keyless records. */
  placement: Record<string, number>;
}

/** The checkpoint format of Rivulet 0.1 (at-least-once): positions and state, no outputs. */
interface CheckpointV1 {
  version: 1;
  pipeline: string;
  watermark: number | null;
  sources: Record<string, SourceCheckpoint>;
  operators: Record<string, unknown>;
  eventsIn: number;
  recordsOut: number;
}

/** A checkpoint that cannot be read: damaged, or written by a newer Rivulet. */
export class CheckpointReadError extends RivuletError {
  override name = 'CheckpointReadError';
  constructor(readonly file: string, reason: string, options?: { cause?: unknown }) {
    super('checkpoint_unreadable', `checkpoint ${file}: ${reason}`, options);
  }
}

/** The file of one pipeline's checkpoints in `dir`. */
export function checkpointPath(dir: string, pipeline: string): string {
  return path.join(dir, `${pipeline}.json`);
}

/** Replaces the pipeline's checkpoint atomically and durably: after a crash the file holds this one or the one before. */
export function writeCheckpoint(file: string, checkpoint: Checkpoint): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileDurably(file, JSON.stringify(checkpoint));
}

/** The last committed checkpoint, or `undefined` when the pipeline never committed. */
export function readCheckpoint(file: string): Checkpoint | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointReadError(file, (err as Error).message, { cause: err });
  }
  let cp: Checkpoint | CheckpointV1;
  try {
    cp = JSON.parse(text) as Checkpoint | CheckpointV1;
  } catch (err) {
    throw new CheckpointReadError(file, 'not valid JSON', { cause: err });
  }
  if (cp.version === 1) return { ...cp, version: 2, epoch: 0, committedAt: 0, outputs: [], placement: {} };
  if (cp.version !== 2) throw new CheckpointReadError(file, `format version ${String((cp as { version: unknown }).version)} is not one this Rivulet reads (1, 2)`);
  return cp;
}
