import fs from 'node:fs';
import path from 'node:path';
import { LogLockedError, StorageError, storageError } from '../../core/errors.js';

/** Directories this process holds, by real path: a second open in the same process is refused too. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The lock that gives one log instance a data directory: a `.lock` file holding the owner's pid,
 * created exclusively. A lock whose process is gone (killed, crashed) is taken over; one held by a
 * live process — or by this process, through another open log — is refused with {@link LogLockedError}.
 */
export class DirectoryLock {
  private constructor(private readonly file: string, private readonly key: string) {}

  /** Takes `dir` for this log instance, or fails naming the process that holds it. */
  static acquire(dir: string): DirectoryLock {
    const key = fs.realpathSync(dir);
    if (held.has(key)) throw new LogLockedError(dir, process.pid, ' (another log in this process has it open)');
    const file = path.join(dir, '.lock');
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
          held.add(key);
          return new DirectoryLock(file, key);
        } catch (cause) {
          if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
        }
        const seen = readIfThere(file);
        if (seen === undefined) continue;
        const holder = Number(seen);
        // Our own pid with no instance holding it is a leftover of this process: stale as well.
        if (holder !== process.pid && isAlive(holder)) throw new LogLockedError(dir, holder);
        // Stale: move it aside atomically, and put back what was moved if another process had
        // replaced the stale lock with its own in the meantime.
        const aside = `${file}.stale-${process.pid}-${attempt}`;
        try {
          fs.renameSync(file, aside);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw e;
        }
        if (readIfThere(aside) !== seen) {
          try {
            fs.linkSync(aside, file);
          } catch {
            // Someone holds the lock again; the next attempt reads who.
          }
        }
        fs.rmSync(aside, { force: true });
      }
    } catch (cause) {
      if (cause instanceof LogLockedError) throw cause;
      throw storageError('locking the log directory', dir, cause);
    }
    throw new StorageError(`cannot lock the log directory ${dir}: its lock file keeps changing hands`);
  }

  /** Gives the directory up. */
  release(): void {
    held.delete(this.key);
    try {
      if (readIfThere(this.file) === String(process.pid)) fs.rmSync(this.file, { force: true });
    } catch {
      // A lock file left behind names this process, which is gone by the next open: it is taken over.
    }
  }
}
