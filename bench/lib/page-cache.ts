import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Writes every dirty page out (`sync`), so the next measurement does not pay for the previous one's writeback. */
export function syncDisks(): void {
  execFileSync('sync');
}

/**
 * Flushes dirty pages and drops the Linux page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`),
 * so the next reads come from the disk. Needs root; returns false when it could not.
 */
export function dropPageCache(): boolean {
  try {
    syncDisks();
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
