import fs from 'node:fs';
import path from 'node:path';
import { storageError } from './errors.js';

/**
 * fsync of a directory: makes the names created or renamed in it durable. A file's own fsync does not
 * cover its directory entry, so a new segment or topic needs this too, or a power loss could lose a
 * file whose data was synced.
 */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` atomically and durably (write a temporary file, fsync, rename, fsync the directory). */
export function writeFileDurably(file: string, data: string): void {
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDirectory(path.dirname(file));
  } catch (cause) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The write error is the one to report.
    }
    throw storageError('writing', file, cause);
  }
}
