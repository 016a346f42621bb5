/**
 * `npm run bench -- fanout`: Rivulet's WebSocket fan-out against a Socket.IO server broadcasting the
 * same events to the same number of clients, in the same run, with the same load generator
 * (`rivulet loadtest`'s, subscribers in child processes). Each server runs in its own process.
 *
 * - broadcast: S subscribers each get every event: delivered messages per second (target ≥ 500,000,
 *   and ≥ 2× Socket.IO's).
 * - keyed: 1,000 subscribers, 10,000 events/s, each subscriber following one of 1,000 keys (a room in
 *   Socket.IO): ingest-to-receipt latency p50/p99/p99.9 (target p99 ≤ 10 ms).
 * - idle: N connections holding a subscription and receiving nothing: server memory per connection
 *   (target ≤ 10 KB with 20,000). A process gets 20,000 open files here: the servers are started with
 *   30,000 where the machine allows raising it (as root), else N is 19,000.
 *
 * Latencies (keyed, and broadcast's p99) are of the events sent after the load test's warm-up, the
 * first second of the ingest.
 *
 * Rivulet runs from `dist`, compiled at the start, as `npm start` runs it. Flags: --quick (small
 * counts), --only broadcast|keyed|idle.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, serverRss, type LoadTarget, type LoadTestReport } from '../src/cli/loadtest.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';
import { canRaiseOpenFiles, startServer, type ServerProcess } from './lib/server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** tsx's loader flags, so that the servers and workers run from source as this process does. */
const loader = process.execArgv.filter((a, i, all) => ['--import', '--require'].includes(a) || ['--import', '--require'].includes(all[i - 1] ?? ''));

/** Open files the servers are started with where the machine allows (20,000 connections and their own). */
const SERVER_OPEN_FILES = 30_000;

interface System {
  name: 'rivulet' | 'socketio';
  server: ServerProcess;
  target: LoadTarget;
}

/**
 * Compiles Rivulet into `dist` (what `npm start` runs): the server is measured as users run it. From
 * source, tsx keeps function names by giving every named closure an own `name` property, which costs
 * about 250 bytes per closure — 2.5 KiB per connection here.
 */
function build(): void {
  progress('compiling dist (tsc -p tsconfig.build.json)');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`);
}

async function startRivulet(): Promise<System> {
  const server = await startServer({
    name: 'rivulet',
    command: process.execPath,
    args: (port, dir) => [path.join(root, 'dist/cli/main.js'), 'start', '--port', String(port), '--data', dir, '--anonymous', 'admin'],
    startTimeoutMs: 30_000,
    openFiles: SERVER_OPEN_FILES,
  });
  const url = `http://127.0.0.1:${server.port}`;
  const res = await fetch(`${url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fanout', partitions: 1 }) });
  if (!res.ok && res.status !== 409) throw new Error(`creating the topic: ${res.status} ${await res.text()}`);
  return {
    name: 'rivulet',
    server,
    target: {
      workerModule: path.join(root, 'src/cli/loadtest-worker.ts'),
      connectUrl: `ws://127.0.0.1:${server.port}/v1/ws`,
      ingestUrl: (keyed) => `${url}/v1/topics/fanout/events${keyed ? '?key=key' : ''}`,
      headers: { 'content-type': 'application/json' },
      topic: 'fanout',
      rss: () => serverRss(url),
    },
  };
}

async function startSocketIo(): Promise<System> {
  const server = await startServer({
    name: 'socketio',
    command: process.execPath,
    args: (port) => [...loader, path.join(root, 'bench/fanout-socketio-server-child.ts'), String(port)],
    startTimeoutMs: 30_000,
    openFiles: SERVER_OPEN_FILES,
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    name: 'socketio',
    server,
    target: {
      workerModule: path.join(root, 'bench/fanout-socketio-worker-child.ts'),
      connectUrl: url,
      ingestUrl: () => `${url}/events`,
      headers: { 'content-type': 'application/json' },
      topic: 'fanout',
      rss: async () => ((await (await fetch(`${url}/rss`)).json()) as { rss: number }).rss,
    },
  };
}

/** Runs `scenario` on a fresh server of each system, one after the other. */
async function both(scenario: (s: System) => Promise<LoadTestReport & { rssBefore?: number | null }>): Promise<Record<System['name'], LoadTestReport & { rssBefore?: number | null }>> {
  const out: Partial<Record<System['name'], LoadTestReport>> = {};
  for (const start of [startRivulet, startSocketIo]) {
    const system = await start();
    try {
      out[system.name] = await scenario(system);
      const r = out[system.name]!;
      progress(`${system.name}: ${r.connected} connected, ${r.delivered} delivered (${r.deliveredPerSecond}/s), p99 ${r.latencyMs.p99} ms, errors: ${r.errors.join('; ') || 'none'}`);
    } finally {
      await system.server.stop();
    }
  }
  return out as Record<System['name'], LoadTestReport>;
}

export async function run(options: BenchOptions): Promise<void> {
  const only = options.args[options.args.indexOf('--only') + 1];
  const want = (name: string) => !options.args.includes('--only') || only === name;
  const quick = options.quick;
  build();

  if (want('broadcast')) {
    const subscribers = quick ? 100 : 1000;
    const rate = quick ? 2000 : 2000;
    const duration = quick ? 3 : 10;
    progress(`broadcast: ${subscribers} subscribers, ${rate} events/s for ${duration} s`);
    const r = await both((s) => runLoad(s.target, { subscribers, rate, durationSeconds: duration, processes: 2, onProgress: progress }));
    const extra = { subscribers, events_per_second: rate, seconds: duration, cores: 2, note: 'server, 2 subscriber processes and the ingest share 2 cores' };
    emit({ name: 'fanout.broadcast.delivered', value: r.rivulet.deliveredPerSecond, unit: 'messages/s', baseline: r.socketio.deliveredPerSecond, target: 2, target_of: 'ratio', baseline_system: 'socket.io 4.8', ...extra });
    emit({ name: 'fanout.broadcast.delivered.absolute', value: r.rivulet.deliveredPerSecond, unit: 'messages/s', target: 500_000, ...extra });
    emit({ name: 'fanout.broadcast.p99', value: r.rivulet.latencyMs.p99 ?? NaN, unit: 'ms', baseline: r.socketio.latencyMs.p99 ?? NaN, better: 'lower', ...extra });
  }

  if (want('keyed')) {
    const subscribers = quick ? 200 : 1000;
    const rate = quick ? 2000 : 10_000;
    const duration = quick ? 3 : 10;
    progress(`keyed: ${subscribers} subscribers on ${subscribers} keys, ${rate} events/s for ${duration} s`);
    const r = await both((s) => runLoad(s.target, { subscribers, rate, keys: subscribers, durationSeconds: duration, processes: 1, onProgress: progress }));
    const extra = { subscribers, keys: subscribers, events_per_second: rate, seconds: duration, warmup_s: r.rivulet.warmupSeconds, measured: r.rivulet.latencySamples, baseline_measured: r.socketio.latencySamples };
    for (const [q, key] of [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p999']] as const) {
      emit({ name: `fanout.keyed.latency.${q}`, value: r.rivulet.latencyMs[key] ?? NaN, unit: 'ms', baseline: r.socketio.latencyMs[key] ?? NaN, better: 'lower', ...(q === 'p99' ? { target: 10 } : {}), ...extra });
    }
    emit({ name: 'fanout.keyed.delivered', value: r.rivulet.delivered, unit: 'messages', baseline: r.socketio.delivered, expected: r.rivulet.eventsSent, ...extra });
  }

  if (want('idle')) {
    const connections = quick ? 2000 : canRaiseOpenFiles(SERVER_OPEN_FILES) ? 20_000 : 19_000;
    progress(`idle: ${connections} connections`);
    const r = await both(async (s) => {
      // Let the freshly started server settle before its baseline.
      await new Promise((res) => setTimeout(res, 2000));
      const rssBefore = await s.target.rss();
      const report = await runLoad(s.target, { subscribers: connections, rate: 1, durationSeconds: 1, warmupSeconds: 0, processes: Math.ceil(connections / 5000), onProgress: progress });
      return { ...report, rssBefore };
    });
    const perConnection = (x: LoadTestReport & { rssBefore?: number | null }) => ((x.serverRssBytes ?? NaN) - (x.rssBefore ?? NaN)) / Math.max(1, x.connected);
    emit({
      name: 'fanout.idle.memory_per_connection', value: perConnection(r.rivulet) / 1024, unit: 'KiB', baseline: perConnection(r.socketio) / 1024, better: 'lower', target: 10,
      connections, connected: r.rivulet.connected, baseline_connected: r.socketio.connected, server_rss_mib: (r.rivulet.serverRssBytes ?? 0) / 2 ** 20,
    });
  }
}
