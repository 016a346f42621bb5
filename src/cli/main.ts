#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import type { PipelineDefinition } from '../engine/pipeline.js';
import { loadConfig, loadPipelines } from './config.js';
import { describeLog, logFromUrl, openLog } from '../log/open-log.js';
import { WorkerNode } from '../engine/distributed/worker-node.js';
import { startRivulet } from './node.js';
import { savepointCommand } from './savepoint-command.js';
import { topicsCommand } from './topics-command.js';
import { cliToken } from './admin-key.js';
import { formatLoadTest, runLoadTest } from './loadtest.js';
import { DEFAULT_URL } from './topic-target.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demoModule = path.join(packageRoot, 'examples', 'fraud', 'demo.ts');

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderArgumentError(`'${value}' is not a port number (0-65535)`);
  return n;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** On SIGINT or SIGTERM (the first one): runs `stop`, says so, and exits. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    await stop();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

const program = new Command()
  .name('rivulet')
  .description('Rivulet: a durable event log, event-time stream processing and live results in the browser.')
  .version(JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version as string);

program
  .command('start')
  .description('run Rivulet: the log (embedded by default), the pipelines, the HTTP + WebSocket API and the dashboard')
  .option('--data <dir>', 'data directory (default: ./data)')
  .option('--log <url>', "log backend: 'embedded', nats://host:port[,host:port] or redis://host:port, with ?namespace=… (default: $RIVULET_LOG, the config's log, or embedded)")
  .option('--port <n>', 'HTTP port, 0 for any free one (default: 7070)', port)
  .option('--host <host>', 'interface to listen on (default: 127.0.0.1)')
  .option('--pipeline <file>', 'a pipeline module (.ts or .js) to run; repeatable', collect, [] as string[])
  .option('--config <file>', 'configuration file (default: ./rivulet.config.ts or .js when present)')
  .option('--demo', 'also run the demo: a payment generator and the fraud pipeline (and, without auth in the config, anonymous admin access)')
  .option('--anonymous <scopes>', "scopes of requests without credentials, comma-separated (e.g. 'read:*,metrics'); only without auth in the config", (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
  .option('--from-savepoint <dir>', 'start a pipeline from a savepoint (its state and positions) instead of its last checkpoint; repeatable', collect, [] as string[])
  .action(async (opts: { data?: string; log?: string; port?: number; host?: string; pipeline: string[]; config?: string; demo?: boolean; anonymous?: string[]; fromSavepoint: string[] }) => {
    const configFile = opts.config ?? ['rivulet.config.ts', 'rivulet.config.js', 'rivulet.config.mjs'].find((f) => fs.existsSync(f));
    const config = configFile ? await loadConfig(configFile) : undefined;
    const pipelines: PipelineDefinition[] = [...(config?.pipelines ?? [])];
    if (opts.demo) pipelines.push(...(await loadPipelines(demoModule)));
    for (const file of opts.pipeline) pipelines.push(...(await loadPipelines(file)));
    const dataDir = opts.data ?? (config?.dataDir ? path.resolve(config.dir, config.dataDir) : './data');
    if (config?.auth && opts.anonymous) throw new CommanderArgumentError('--anonymous: the config sets auth; give anonymous scopes there (auth.anonymous)');
    const anonymous = opts.anonymous ?? (opts.demo && !config?.auth ? ['admin'] : undefined);
    const logUrl = opts.log ?? process.env.RIVULET_LOG;
    const log = logUrl !== undefined ? logFromUrl(logUrl) : config?.log ?? logFromUrl(undefined);
    const rivulet = await startRivulet({
      dataDir, log, port: opts.port ?? config?.port ?? 7070, host: opts.host ?? config?.host ?? '127.0.0.1', pipelines, fromSavepoints: opts.fromSavepoint, sinks: config?.sinks,
      ...(config?.cors ? { cors: config.cors } : {}), ...(config?.auth ? { auth: config.auth } : {}), ...(anonymous ? { anonymous } : {}),
    });
    console.log([
      `  dashboard  ${rivulet.url}/`,
      `  data       ${path.resolve(dataDir)}`,
      `  log        ${describeLog(log)}`,
      ...(rivulet.adminKeyFile ? [`  admin key  ${rivulet.adminKeyFile}`] : []),
      ...(anonymous ? [`  anonymous  ${anonymous.join(', ')}${anonymous.includes('admin') ? ' (anyone who reaches the port may do anything)' : ''}`] : []),
      `  pipelines  ${pipelines.map((p) => p.name).join(', ') || '(none)'}`,
      `Rivulet listening on ${rivulet.url}`,
    ].join('\n'));
    stopOnSignals(() => rivulet.stop());
  });

/** A parser of a numeric option: a number of at least `min`, whole unless `fractional`. */
const numberOption = (min: number, fractional = false) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !(fractional ? Number.isFinite(n) : Number.isInteger(n)) || n < min) {
    throw new CommanderArgumentError(`'${value}' is not ${fractional ? 'a number' : 'an integer'} of at least ${min}`);
  }
  return n;
};
const count = (min: number) => numberOption(min);
const seconds = numberOption(0, true);

program
  .command('worker')
  .description('run a share of the pipelines on a shared log (NATS JetStream or Redis Streams), with other workers on this or other machines')
  .option('--log <url>', "the shared log: nats://host:port[,host:port] or redis://host:port, with ?namespace=… (default: $RIVULET_LOG, or the config's log)")
  .option('--pipeline <file>', 'a pipeline module (.ts or .js) to run; repeatable', collect, [] as string[])
  .option('--config <file>', 'configuration file (default: ./rivulet.config.ts or .js when present)')
  .option('--id <name>', 'this worker\'s name among the workers (default: $RIVULET_WORKER_ID, else <host>-<pid>)')
  .option('--lease <ms>', 'how long a task stays with a worker that stopped renewing it (default: $RIVULET_LEASE_MS, else 10000)', count(300))
  .action(async (opts: { log?: string; pipeline: string[]; config?: string; id?: string; lease?: number }) => {
    const configFile = opts.config ?? ['rivulet.config.ts', 'rivulet.config.js', 'rivulet.config.mjs'].find((f) => fs.existsSync(f));
    const config = configFile ? await loadConfig(configFile) : undefined;
    const pipelines: PipelineDefinition[] = [...(config?.pipelines ?? [])];
    for (const file of opts.pipeline) pipelines.push(...(await loadPipelines(file)));
    const logUrl = opts.log ?? process.env.RIVULET_LOG;
    const logOptions = logUrl !== undefined ? logFromUrl(logUrl) : config?.log;
    if (!logOptions || logOptions.backend === 'embedded') throw new CommanderArgumentError('--log: workers need a shared log, nats://… or redis://… (or log in the config)');
    if (pipelines.length === 0) throw new CommanderArgumentError('--pipeline: give at least one pipeline to run (or pipelines in the config)');
    const envLease = process.env.RIVULET_LEASE_MS;
    const leaseMs = opts.lease ?? (envLease === undefined ? undefined : count(300)(envLease));
    // A cluster that is still electing its leaders (all machines starting together) leaves requests
    // unanswered for a while: starting is tried again for up to a minute.
    const started = Date.now();
    let log: Awaited<ReturnType<typeof openLog>> | undefined;
    let worker: WorkerNode;
    for (;;) {
      try {
        log = undefined;
        log = await openLog(logOptions, '.');
        worker = await WorkerNode.start({
          log, pipelines, id: opts.id ?? process.env.RIVULET_WORKER_ID, leaseMs,
          onEvent: (e) => console.log(`${e.kind} ${e.task}${e.kind === 'failed' ? `: ${e.error.message}` : ''}`),
        });
        break;
      } catch (err) {
        await log?.close().catch(() => undefined);
        if ((err as Error).name !== 'TimeoutError' || Date.now() - started > 60_000) throw err;
        console.error(`starting: ${(err as Error).message}; trying again`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    console.log(`worker ${worker.id} running ${pipelines.map((p) => p.name).join(', ')} on ${describeLog(logOptions)}`);
    const running = log!;
    stopOnSignals(async () => {
      await worker.stop();
      await running.close();
    });
  });

program
  .command('loadtest')
  .description('load a running Rivulet: N WebSocket subscribers and M events/s of ingest; reports delivered messages/s, latency and server memory (docs/cli.md)')
  .option('--url <url>', `the running Rivulet (default: $RIVULET_URL or ${DEFAULT_URL})`)
  .option('--token <token>', 'API key or JWT with ingest and read on the topic, metrics for the memory (default: $RIVULET_TOKEN, or ./data/admin.key when present)')
  .option('--topic <name>', 'topic to load (created when missing)', 'loadtest')
  .option('--subscribers <n>', 'concurrent WebSocket subscribers', count(1), 1000)
  .option('--rate <n>', 'events appended per second', count(1), 10_000)
  .option('--duration <s>', 'seconds of ingest', count(1), 10)
  .option('--warmup <s>', 'seconds at the start of the ingest left out of the latency percentiles (default 1, or 0 for a 1 s run)', seconds)
  .option('--keys <n>', '0: every subscriber gets every event; N: events keyed k0..kN-1, each subscriber follows one key', count(0), 0)
  .option('--payload <bytes>', 'padding per event', count(0), 100)
  .option('--processes <n>', 'processes holding the subscribers (default: one per 5,000)', count(1))
  .option('--json', 'print the report as JSON')
  .action(async (opts: { url?: string; token?: string; topic: string; subscribers: number; rate: number; duration: number; warmup?: number; keys: number; payload: number; processes?: number; json?: boolean }) => {
    const url = opts.url ?? process.env.RIVULET_URL ?? DEFAULT_URL;
    const report = await runLoadTest({
      url, token: cliToken(opts.token, url), topic: opts.topic, subscribers: opts.subscribers, rate: opts.rate, durationSeconds: opts.duration,
      ...(opts.warmup !== undefined ? { warmupSeconds: opts.warmup } : {}), keys: opts.keys, payloadBytes: opts.payload, ...(opts.processes ? { processes: opts.processes } : {}),
      onProgress: (line) => console.error(line),
    });
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatLoadTest(report));
  });

program.addCommand(topicsCommand());
program.addCommand(savepointCommand());

program.parseAsync().catch((err: Error & { code?: string }) => {
  console.error(`rivulet: ${err.message}`);
  process.exit(1);
});
