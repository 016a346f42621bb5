import type { Coordination } from '../../log/coordination.js';
import { CheckpointReadError, readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint-file.js';

/**
 * Where one task's checkpoints are kept. A file in the data directory when one process runs the
 * pipeline; a document on the log's servers when workers share it, so that whichever worker takes the
 * task over restores it. A write fails when another writer wrote since this store last read or wrote
 * (a worker that lost the task): that is what stops a stale worker from committing.
 */
export interface CheckpointStore {
  /** Names the checkpoint in errors and logs. */
  readonly name: string;
  read(): Promise<Checkpoint | undefined>;
  write(checkpoint: Checkpoint): Promise<void>;
}

/** A task's checkpoints in one file, replaced atomically (see `checkpoint-file.ts`). */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly name: string) {}

  /** The checkpoint, read synchronously (a task restored as it starts). */
  readNow(): Checkpoint | undefined {
    return readCheckpoint(this.name);
  }

  async read(): Promise<Checkpoint | undefined> {
    return this.readNow();
  }

  async write(checkpoint: Checkpoint): Promise<void> {
    writeCheckpoint(this.name, checkpoint);
  }
}

/** A task's checkpoints as a document of the log's {@link Coordination}, written with compare-and-set. */
export class DocumentCheckpointStore implements CheckpointStore {
  /** The version this store last read or wrote: the next write expects it. */
  private version = 0;

  constructor(private readonly coordination: Coordination, readonly name: string) {}

  async read(): Promise<Checkpoint | undefined> {
    const doc = await this.coordination.getDocument(this.name);
    this.version = doc?.version ?? 0;
    if (!doc) return undefined;
    try {
      return JSON.parse(Buffer.from(doc.data).toString('utf8')) as Checkpoint;
    } catch (err) {
      throw new CheckpointReadError(this.name, 'not valid JSON', { cause: err });
    }
  }

  async write(checkpoint: Checkpoint): Promise<void> {
    this.version = await this.coordination.putDocument(this.name, Buffer.from(JSON.stringify(checkpoint)), this.version);
  }
}
