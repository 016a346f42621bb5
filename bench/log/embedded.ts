import type { AppendRecord } from '../../src/core/record.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { FsyncPolicy } from '../../src/log/log.js';
import { drive } from '../lib/load.js';
import { SYNC_INTERVAL_MS, type AppendCase, type Budget, type Throughput } from './workload.js';

/** The topic every embedded-log measurement writes: one partition. */
export const TOPIC = 'bench';

function policy(c: Pick<AppendCase, 'durability'>): FsyncPolicy {
  return c.durability === 'interval' ? { intervalMs: SYNC_INTERVAL_MS } : 'always';
}

function batches(values: readonly Uint8Array[], size: number): AppendRecord[][] {
  const out: AppendRecord[][] = [];
  for (let i = 0; i + size <= values.length; i += size) out.push(values.slice(i, i + size).map((value) => ({ key: null, value })));
  return out;
}

/** Appends `values` (cycled) to a fresh one-partition topic of a new log in `dir` under case `c`. */
export async function embeddedAppend(dir: string, c: AppendCase, values: readonly Uint8Array[], budget: Budget): Promise<Throughput> {
  const log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
  try {
    await log.createTopic(TOPIC, { partitions: 1, fsync: policy(c) });
    const all = batches(values, c.batch);
    let next = 0;
    const r = await drive(
      { concurrency: c.concurrency, seconds: budget.seconds, warmupSeconds: budget.warmupSeconds, maxOps: Math.ceil(budget.maxBytes / (c.batch * c.recordBytes)) },
      async () => {
        await log.append(TOPIC, all[next++ % all.length]!);
      },
    );
    const records = r.ops * c.batch;
    return { records, bytes: records * c.recordBytes, seconds: r.seconds };
  } finally {
    await log.close();
  }
}

/** Writes `count` records of `values` (cycled) to a fresh one-partition topic in `dir`, in batches of 1000, fsync every 10 ms; closes the log. */
export async function fillTopic(dir: string, values: readonly Uint8Array[], count: number): Promise<Throughput> {
  const log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
  const started = performance.now();
  try {
    await log.createTopic(TOPIC, { partitions: 1, fsync: policy({ durability: 'interval' }) });
    const all = batches(values, 1000);
    let yielded = started;
    for (let written = 0, i = 0; written < count; i++) {
      const batch = all[i % all.length]!.slice(0, count - written);
      await log.append(TOPIC, batch);
      written += batch.length;
      // Let the fsync timer run, as the timed loops do.
      if (performance.now() - yielded >= 1) {
        await new Promise(setImmediate);
        yielded = performance.now();
      }
    }
  } finally {
    await log.close();
  }
  const bytes = count * (values[0]?.length ?? 0);
  return { records: count, bytes, seconds: (performance.now() - started) / 1000 };
}

/** What reading a whole partition found. */
export interface ReplayResult extends Throughput {
  /** Time to open the log (recovery scan of the active segment). */
  openSeconds: number;
}

/**
 * Opens the log in `dir` and reads all of partition 0 of {@link TOPIC} from offset 0, `perRead`
 * records per call; `onRead` runs after every call (memory sampling). Fails when records are missing.
 */
export async function replayTopic(dir: string, perRead: number, onRead: () => void = () => {}): Promise<ReplayResult> {
  const opening = performance.now();
  const log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
  const started = performance.now();
  try {
    const end = log.endOffsets(TOPIC)[0]!;
    let offset = 0;
    let records = 0;
    let bytes = 0;
    while (offset < end) {
      const got = await log.read(TOPIC, 0, offset, perRead);
      if (got.length === 0) throw new Error(`read at offset ${offset} of ${end} returned nothing`);
      for (const r of got) bytes += (r.value as Uint8Array).length;
      records += got.length;
      offset = got.at(-1)!.offset + 1;
      onRead();
    }
    if (records !== end) throw new Error(`read ${records} records, the partition holds ${end}`);
    return { records, bytes, seconds: (performance.now() - started) / 1000, openSeconds: (started - opening) / 1000 };
  } finally {
    await log.close();
  }
}
