/**
 * `npm run bench -- scale`: one windowed pipeline on each log backend — the embedded log, NATS
 * JetStream and Redis Streams, each on a server of the benchmark's own on loopback — with the
 * embedded log as the baseline of the same run (docs/benchmarks.md, "Scale-out").
 *
 * Per backend: the input's append throughput (batches of 1000 from one producer), then the pipeline's
 * throughput over that input from offset 0 until every event is committed (read, windowed, checkpointed,
 * results appended), in this process.
 */
import { Engine } from '../src/engine/engine.js';
import { count, definePipeline, sum, tumbling } from '../src/mod.js';
import type { Log } from '../src/log/log.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import { JetStreamLog } from '../src/log/nats/jetstream-log.js';
import { RedisStreamsLog } from '../src/log/redis/redis-streams-log.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';
import { startServer } from './lib/server.js';
import { tempDir } from './lib/temp.js';

interface Reading { sensor: string; ts: number; value: number }

const PARTITIONS = 4;
const SENSORS = 1000;

const pipeline = definePipeline({
  name: 'scale',
  checkpointInterval: '200ms',
  setup(app) {
    app.stream<Reading>('readings', { time: 'ts', outOfOrderness: '1s', partitions: PARTITIONS })
      .keyBy((r) => r.sensor)
      .window(tumbling('10s'))
      .aggregate({ n: count(), total: sum((r: Reading) => r.value) })
      .to('sensor-10s', { partitions: PARTITIONS, view: false });
  },
});

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
  const events = options.quick ? 40_000 : 200_000;
  const records = input(events);
  const nats = await startServer({ name: 'nats', command: '/usr/sbin/nats-server', args: (port, dir) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir] });
  const redis = await startServer({
    name: 'redis',
    command: '/usr/bin/redis-server',
    args: (port, dir) => ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''],
  });
  const embeddedDir = tempDir('scale-log');
  const backends: [string, () => Promise<Log>][] = [
    ['embedded', () => EmbeddedLog.open({ dir: embeddedDir.dir })],
    ['nats', () => JetStreamLog.open({ servers: `127.0.0.1:${nats.port}` })],
    ['redis', () => RedisStreamsLog.open({ url: `redis://127.0.0.1:${redis.port}` })],
  ];
  try {
    const figures: { backend: string; append: number; pipeline: number }[] = [];
    for (const [backend, open] of backends) {
      const log = await open();
      try {
        await log.createTopic('readings', { partitions: PARTITIONS });
        progress(`${backend}: appending ${events} events`);
        const append = await appendAll(log, records);
        progress(`${backend}: running the pipeline`);
        const processed = await runPipeline(log, events);
        figures.push({ backend, append, pipeline: processed });
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
    }
  } finally {
    embeddedDir.remove();
    await Promise.allSettled([nats.stop(), redis.stop()]);
  }
}
