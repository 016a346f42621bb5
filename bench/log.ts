/**
 * `npm run bench -- log [--quick]`: the embedded log's append, read and replay throughput, against
 * the raw disk, Redis Streams and NATS JetStream measured in the same run. See docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchOptions } from './lib/options.js';
import { dropPageCache, syncDisks } from './lib/page-cache.js';
import { emit, progress } from './lib/report.js';
import { tempDir } from './lib/temp.js';
import { embeddedAppend, fillTopic, replayTopic } from './log/embedded.js';
import { startNats, type NatsPeer } from './log/nats.js';
import { rawAppend } from './log/raw-fs.js';
import { startRedis, type RedisPeer } from './log/redis.js';
import { replayInChild } from './log/replay.js';
import {
  addUp,
  APPEND_CASES,
  caseLabel,
  makeValues,
  megabytesPerSecond,
  recordsPerSecond,
  type AppendCase,
  type Budget,
  type Durability,
  type Throughput,
} from './log/workload.js';

/** How much each part does, full and `--quick`. */
interface Scale {
  /** Time of each system in each append case, split over `rounds`; the warm-up is for the first round (a quarter of it for the others). */
  budget: Budget;
  rounds: number;
  /** Records written and read back by the read benchmark, per value size. */
  readRecords: Record<number, number>;
  /** Size of the topic replayed in a child process. */
  replayBytes: number;
}

const FULL: Scale = {
  budget: { seconds: 3.6, warmupSeconds: 1, maxBytes: 2e9 },
  rounds: 3,
  readRecords: { 100: 2_000_000, 1024: 200_000 },
  replayBytes: 1 << 30,
};

const QUICK: Scale = {
  budget: { seconds: 0.6, warmupSeconds: 0.2, maxBytes: 0.3e9 },
  rounds: 1,
  readRecords: { 100: 400_000, 1024: 40_000 },
  replayBytes: 100 << 20,
};

/** Records per read call when reading a partition back. */
const PER_READ = 5000;
const VALUES_PER_SIZE = 4096;
const MB = 1e6;

/** The figures this benchmark is held to. */
const TARGETS = {
  /** Records/s of 100 B values in batches of 1000 with interval fsync. */
  recordsPerSecond: 1_000_000,
  /** Log MB/s over raw-file MB/s, for batches of 1000 with interval fsync. */
  rawRatio: 0.5,
  /** Log records/s over each peer's. */
  peerRatio: 1,
  /** Peak RSS of replaying the 1 GB topic, MB. */
  replayRssMb: 200,
};

function describeDisk(dir: string): string {
  try {
    const line = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n').at(-1)!.split(/\s+/);
    return `${line[0]} (${line[1]})`;
  } catch {
    return 'unknown';
  }
}

async function appendCase(c: AppendCase, dir: string, scale: Scale, redis: RedisPeer, nats: NatsPeer): Promise<void> {
  const label = caseLabel(c);
  const values = makeValues(c.recordBytes, VALUES_PER_SIZE);
  const interval = c.durability === 'interval';
  const logDir = path.join(dir, `log-${label}`);
  const parts: Record<'log' | 'raw' | 'redis' | 'nats', Throughput[]> = { log: [], raw: [], redis: [], nats: [] };
  // Rounds alternate the systems, so a drift of the disk or the host over the run hits them alike.
  for (let round = 0; round < scale.rounds; round++) {
    const budget: Budget = {
      ...scale.budget,
      seconds: scale.budget.seconds / scale.rounds,
      warmupSeconds: round === 0 ? scale.budget.warmupSeconds : scale.budget.warmupSeconds / 4,
    };
    progress(`append ${label}, round ${round + 1}/${scale.rounds}: embedded log, raw file, redis, nats`);
    syncDisks();
    const log = await embeddedAppend(logDir, c, values, budget);
    parts.log.push(log);
    fs.rmSync(logDir, { recursive: true, force: true });
    syncDisks();
    parts.raw.push(await rawAppend(dir, c, values, { ...budget, maxBytes: Math.max(log.bytes, c.batch * c.recordBytes) }));
    syncDisks();
    parts.redis.push(await redis.append(c, values, budget));
    syncDisks();
    parts.nats.push(await nats.append(c, values, budget));
  }
  const [log, raw, viaRedis, viaNats] = [parts.log, parts.raw, parts.redis, parts.nats].map(addUp) as [Throughput, Throughput, Throughput, Throughput];

  const common = { concurrency: c.concurrency, batch: c.batch, record_bytes: c.recordBytes, rounds: scale.rounds };
  const logRate = recordsPerSecond(log);
  emit({
    name: `log.append.${label}.records`,
    value: logRate,
    unit: 'records/s',
    ...(c.recordBytes === 100 && c.batch === 1000 && interval ? { target: TARGETS.recordsPerSecond, target_of: 'value' as const } : {}),
    ...common,
  });
  emit({
    name: `log.append.${label}.mb`,
    value: megabytesPerSecond(log),
    unit: 'MB/s',
    baseline: megabytesPerSecond(raw),
    ...(c.batch === 1000 && interval ? { target: TARGETS.rawRatio, target_of: 'ratio' as const } : {}),
    baseline_is: `fs.writeSync of ${c.batch}-record chunks, fdatasync ${interval ? 'every 10 ms' : 'after each write'}`,
    ...common,
  });
  emit({
    name: `log.append.${label}.vs_redis`,
    value: logRate,
    unit: 'records/s',
    baseline: recordsPerSecond(viaRedis),
    target: TARGETS.peerRatio,
    target_of: 'ratio',
    peer_fsync: redis.fsync,
    ...common,
  });
  emit({
    name: `log.append.${label}.vs_nats`,
    value: logRate,
    unit: 'records/s',
    baseline: recordsPerSecond(viaNats),
    target: TARGETS.peerRatio,
    target_of: 'ratio',
    peer_fsync: nats.fsync,
    ...common,
  });
}

async function appendBenchmarks(dir: string, scale: Scale): Promise<void> {
  const nats = await startNats();
  try {
    for (const durability of ['interval', 'always'] as Durability[]) {
      const redis = await startRedis(durability);
      try {
        for (const c of APPEND_CASES.filter((x) => x.durability === durability)) await appendCase(c, dir, scale, redis, nats);
      } finally {
        await redis.stop();
      }
    }
  } finally {
    await nats.stop();
  }
}

async function readBenchmarks(dir: string, scale: Scale): Promise<void> {
  for (const recordBytes of [100, 1024]) {
    const count = scale.readRecords[recordBytes]!;
    const label = recordBytes === 1024 ? '1KiB' : `${recordBytes}B`;
    const logDir = path.join(dir, `read-${label}`);
    progress(`read ${label}: writing ${count} records`);
    await fillTopic(logDir, makeValues(recordBytes, VALUES_PER_SIZE), count);
    const cold = dropPageCache();
    progress(`read ${label}: reading back (page cache ${cold ? 'dropped' : 'NOT dropped'})`);
    const r = await replayTopic(logDir, PER_READ);
    fs.rmSync(logDir, { recursive: true, force: true });
    const extra = { page_cache: cold ? 'cold' : 'warm', records: r.records, per_read: PER_READ, open_ms: Math.round(r.openSeconds * 1000) };
    emit({ name: `log.read.${label}.records`, value: recordsPerSecond(r), unit: 'records/s', ...extra });
    emit({ name: `log.read.${label}.mb`, value: megabytesPerSecond(r), unit: 'MB/s', ...extra });
  }
}

async function replayBenchmark(dir: string, scale: Scale): Promise<void> {
  const count = Math.round(scale.replayBytes / 1024);
  const logDir = path.join(dir, 'replay');
  progress(`replay: writing ${(scale.replayBytes / MB).toFixed(0)} MB (${count} records of 1 KiB)`);
  const filled = await fillTopic(logDir, makeValues(1024, VALUES_PER_SIZE), count);
  progress(`replay: written at ${megabytesPerSecond(filled).toFixed(0)} MB/s`);
  const cold = dropPageCache();
  progress(`replay: reading back in a child process (page cache ${cold ? 'dropped' : 'NOT dropped'})`);
  const r = await replayInChild(logDir, PER_READ);
  fs.rmSync(logDir, { recursive: true, force: true });
  const extra = { page_cache: cold ? 'cold' : 'warm', topic_mb: Math.round(r.bytes / MB), records: r.records, per_read: PER_READ };
  emit({
    name: 'log.replay_1gb.peak_rss',
    value: r.peakRss / MB,
    unit: 'MB',
    target: TARGETS.replayRssMb,
    target_of: 'value',
    better: 'lower',
    start_rss_mb: Math.round(r.startRss / MB),
    ...extra,
  });
  emit({ name: 'log.replay_1gb.records', value: recordsPerSecond(r), unit: 'records/s', open_ms: Math.round(r.openSeconds * 1000), ...extra });
  emit({ name: 'log.replay_1gb.mb', value: megabytesPerSecond(r), unit: 'MB/s', ...extra });
}

/** Runs the log benchmark; see the file comment. */
export async function run(options: BenchOptions): Promise<void> {
  const scale = options.quick ? QUICK : FULL;
  const tmp = tempDir('log');
  try {
    progress(`data in ${tmp.dir} on ${describeDisk(tmp.dir)}`);
    await appendBenchmarks(tmp.dir, scale);
    await readBenchmarks(tmp.dir, scale);
    await replayBenchmark(tmp.dir, scale);
  } finally {
    tmp.remove();
  }
}
