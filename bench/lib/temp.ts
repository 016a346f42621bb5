import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const live = new Set<string>();
let hooked = false;

/** A fresh directory under the system temp dir (`TMPDIR`), removed by `remove()` or, at the latest, when the process exits. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rivulet-bench-${prefix}-`));
  live.add(dir);
  if (!hooked) {
    // Registered on first use, so it runs after bench/lib/server.ts has killed the servers using these dirs.
    hooked = true;
    process.on('exit', () => {
      for (const d of live) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      live.delete(dir);
    },
  };
}
