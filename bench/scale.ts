/**
 * `npm run bench -- scale`: one windowed pipeline on each log backend — the embedded log, NATS
 * JetStream and Redis Streams, each on a server of the benchmark's own on loopback — with the
 * embedded log as the baseline of the same run, then on 1 and 2 `rivulet worker` processes over each
 * shared backend (docs/benchmarks.md, "Scale-out").
 *
 * Per backend: the input's append throughput (batches of 1000 from one producer), then the pipeline's
 * throughput over that input from offset 0 until every event is committed (read, windowed, checkpointed,
 * results appended), in this process. Workers: the same input, the pipeline split into one task per
 * partition; the rate counts the events committed between 25 % and 100 % of the input, so that the
 * workers' start and their first sharing out of the tasks are left out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import type { Checkpoint } from '../src/engine/checkpoint/checkpoint-file.js';
import type { CoordinatedLog } from '../src/log/coordination.js';
import type { Log } from '../src/log/log.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { JetStreamLog } from '../src/log/nats/jetstream-log.js';
import { RedisStreamsLog } from '../src/log/redis/redis-streams-log.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';
import { startServer } from './lib/server.js';
import { tempDir } from './lib/temp.js';

import { PARTITIONS, scalePipeline, type Reading } from './scale-pipeline-child.js';

const SENSORS = 1000;
const pipeline = scalePipeline('scale');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Starts `workers` worker processes on `logUrl` for run `run` and resolves with the events/s they commit between 25 % and 100 % of `events`. */
async function runWorkers(log: Log & CoordinatedLog, logUrl: string, run: string, workers: number, events: number): Promise<number> {
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'worker', '--log', logUrl, '--pipeline', path.join(root, 'bench/scale-pipeline-child.ts'), '--id', `${run}-${i}`, '--lease', '900'],
        { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SCALE_RUN: run } });
      procs.push(proc);
    }
    const committed = async () => {
      let n = 0;
      for (let i = 0; i < PARTITIONS; i++) {
        const doc = await log.coordination().getDocument(`checkpoint/${run}/${i}of${PARTITIONS}`);
        if (doc) n += (JSON.parse(Buffer.from(doc.data).toString()) as Checkpoint).eventsIn;
      }
      return n;
    };
    let from: { at: number; n: number } | undefined;
    const deadline = performance.now() + 600_000;
    for (;;) {
      const n = await committed();
      const at = performance.now();
      if (from === undefined && n >= events * 0.25) from = { at, n };
      if (n >= events) return (n - from!.n) / ((at - from!.at) / 1000);
      if (at > deadline) throw new Error(`${run}: ${n} of ${events} events committed after 10 minutes`);
      if (procs.some((p) => p.exitCode !== null)) throw new Error(`${run}: a worker exited`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

/** Readings of `SENSORS` sensors, 10,000 per second of event time, keyed by sensor. */
function input(events: number): { key: string; value: Reading; timestamp: number }[] {
  return Array.from({ length: events }, (_, i) => {
    const ts = 1_700_000_000_000 + Math.floor(i / 10);
    const sensor = `s${(i * 7919) % SENSORS}`;
    return { key: sensor, value: { sensor, ts, value: i % 100 }, timestamp: ts };
  });
}

async function appendAll(log: Log, records: ReturnType<typeof input>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += 1000) await log.append('readings', records.slice(i, i + 1000));
  return records.length / ((performance.now() - t0) / 1000);
}

async function runPipeline(log: Log, events: number): Promise<number> {
  const data = tempDir('scale-state');
  const engine = new Engine({ log, dataDir: data.dir, onFailure: (_, err) => progress(`pipeline failed: ${err.message}`) });
  try {
    await engine.add(pipeline);
    const t0 = performance.now();
    engine.start();
    for (;;) {
      const [status] = engine.status();
      if (status!.state === 'failed') throw new Error(`pipeline failed: ${status!.error}`);
      if (status!.eventsIn >= events) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    return events / ((performance.now() - t0) / 1000);
  } finally {
    await engine.stop();
    data.remove();
  }
}

export async function run(options: BenchOptions): Promise<void> {
  const events = options.quick ? 40_000 : 300_000;
  const records = input(events);
  const nats = await startServer({ name: 'nats', command: '/usr/sbin/nats-server', args: (port, dir) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir] });
  const redis = await startServer({
    name: 'redis',
    command: '/usr/bin/redis-server',
    args: (port, dir) => ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''],
  });
  const embeddedDir = tempDir('scale-log');
  const natsUrl = `nats://127.0.0.1:${nats.port}`;
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const backends: [string, () => Promise<Log>, string | undefined][] = [
    ['embedded', () => EmbeddedLog.open({ dir: embeddedDir.dir }), undefined],
    ['nats', () => JetStreamLog.open({ servers: natsUrl }), natsUrl],
    ['redis', () => RedisStreamsLog.open({ url: redisUrl }), redisUrl],
  ];
  try {
    const figures: { backend: string; append: number; pipeline: number; workers?: [number, number] }[] = [];
    for (const [backend, open, url] of backends) {
      const log = await open();
      try {
        await log.createTopic('readings', { partitions: PARTITIONS });
        progress(`${backend}: appending ${events} events`);
        const append = await appendAll(log, records);
        progress(`${backend}: running the pipeline`);
        const processed = await runPipeline(log, events);
        let workers: [number, number] | undefined;
        if (url !== undefined) {
          progress(`${backend}: 1 worker`);
          const one = await runWorkers(log as Log & CoordinatedLog, url, `scale-${backend}-1`, 1, events);
          progress(`${backend}: 2 workers`);
          const two = await runWorkers(log as Log & CoordinatedLog, url, `scale-${backend}-2`, 2, events);
          workers = [one, two];
        }
        figures.push({ backend, append, pipeline: processed, ...(workers ? { workers } : {}) });
      } finally {
        await log.close();
      }
    }
    const base = figures[0]!;
    const extra = { events, partitions: PARTITIONS, keys: SENSORS, workers: 1 };
    for (const f of figures) {
      const vs = f === base ? {} : { baseline_is: 'the embedded log, same run' };
      emit({ name: `scale.append.${f.backend}.records`, value: f.append, unit: 'records/s', ...(f === base ? {} : { baseline: base.append }), ...vs, batch: 1000, ...extra });
      emit({ name: `scale.pipeline.${f.backend}.events`, value: f.pipeline, unit: 'events/s', ...(f === base ? {} : { baseline: base.pipeline }), ...vs, pipeline: 'keyBy(sensor) tumbling 10 s count+sum', ...extra });
      if (f.workers) {
        const [one, two] = f.workers;
        const split = { pipeline: 'keyBy(sensor) tumbling 10 s count+sum', events, partitions: PARTITIONS, keys: SENSORS, tasks: PARTITIONS, measured: 'events committed from 25 % to 100 % of the input' };
        emit({ name: `scale.workers_1.${f.backend}.events`, value: one, unit: 'events/s', workers: 1, ...split });
        emit({ name: `scale.workers_2.${f.backend}.events`, value: two, unit: 'events/s', baseline: one, baseline_is: '1 worker, same run', workers: 2, ...split });
      }
    }
  } finally {
    embeddedDir.remove();
    await Promise.allSettled([nats.stop(), redis.stop()]);
  }
}
