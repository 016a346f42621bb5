import { LmdbStateBackend } from '../../src/state/lmdb-backend.js';
import { MemoryStateBackend } from '../../src/state/memory-backend.js';
import type { StateBackend, StateCapture } from '../../src/state/state-backend.js';
import { tempDir } from './tmp.js';

/**
 * A state backend that a test can restart as a task does after a crash: `checkpoint()` commits what
 * the operators changed (the capture, as the task's checkpoint would hold it) and `restart()` opens a new
 * backend recovered to that checkpoint — for LMDB, over the same directory.
 */
export class RestartableState {
  state: StateBackend;
  private epoch = 0;
  private capture: StateCapture | undefined;
  private readonly tmp: { dir: string; remove: () => void } | undefined;

  constructor(readonly kind: 'memory' | 'lmdb') {
    this.tmp = kind === 'lmdb' ? tempDir() : undefined;
    this.state = this.open();
    this.state.recover(0, undefined);
  }

  private open(): StateBackend {
    return this.tmp ? new LmdbStateBackend({ dir: this.tmp.dir }) : new MemoryStateBackend();
  }

  /** Commits the state as the next epoch (the capture goes through JSON, as a checkpoint file). */
  async checkpoint(): Promise<void> {
    this.capture = JSON.parse(JSON.stringify(this.state.capture())) as StateCapture;
    await this.state.committed(++this.epoch, this.capture);
  }

  /** A new backend recovered to the last checkpoint; operators made after this use `state`. */
  async restart(): Promise<void> {
    await this.state.close();
    this.state = this.open();
    this.state.recover(this.epoch, this.capture);
  }

  async close(): Promise<void> {
    await this.state.close();
    this.tmp?.remove();
  }
}
