import fs from 'node:fs';
import path from 'node:path';
import { drive } from '../lib/load.js';
import { SYNC_INTERVAL_MS, type AppendCase, type Budget, type Throughput } from './workload.js';

/**
 * The disk's own speed for a case: `fs.writeSync` of the values, `batch` records per write, to one
 * file in `dir`, sequentially; fdatasync every 10 ms in the background (`'interval'`, like the log's
 * timer) or after each write (`'always'`). Stops at the same time or byte budget as the log's run.
 */
export async function rawAppend(dir: string, c: AppendCase, values: readonly Uint8Array[], budget: Budget): Promise<Throughput> {
  const chunks: Buffer[] = [];
  for (let i = 0; i + c.batch <= values.length; i += c.batch) chunks.push(Buffer.concat(values.slice(i, i + c.batch)));
  const file = path.join(dir, 'raw.bin');
  const fd = fs.openSync(file, 'w');
  let syncing = false;
  let failure: Error | undefined;
  const timer =
    c.durability === 'interval'
      ? setInterval(() => {
          if (syncing) return;
          syncing = true;
          fs.fdatasync(fd, (err) => {
            syncing = false;
            failure ??= err ?? undefined;
          });
        }, SYNC_INTERVAL_MS)
      : undefined;
  try {
    let next = 0;
    const r = await drive(
      { concurrency: 1, seconds: budget.seconds, warmupSeconds: budget.warmupSeconds, maxOps: Math.ceil(budget.maxBytes / (c.batch * c.recordBytes)) },
      async () => {
        const chunk = chunks[next++ % chunks.length]!;
        for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done);
        if (c.durability === 'always') fs.fdatasyncSync(fd);
        if (failure) throw failure;
      },
    );
    const records = r.ops * c.batch;
    return { records, bytes: records * c.recordBytes, seconds: r.seconds };
  } finally {
    clearInterval(timer);
    while (syncing) await new Promise((resolve) => setTimeout(resolve, 1));
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}
