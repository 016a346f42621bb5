import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../core/errors.js';
import { LatencyHistogram } from './latency-histogram.js';
import { wallClock as now, type WorkerMeasure, type WorkerReport, type WorkerStart } from './loadtest-worker-core.js';
import { apiRequest, checkServerUrl } from './topics-client.js';

/** Options of {@link runLoadTest} (and of `rivulet loadtest`). */
export interface LoadTestOptions {
  /** A running Rivulet. */
  url: string;
  /** Needs `ingest` and `read` on the topic (and `metrics` for the server's memory); `admin` creates the topic. */
  token?: string | undefined;
  /** Default `loadtest`; created (1 partition) when missing. */
  topic?: string;
  /** Concurrent WebSocket subscribers, one connection each. Default 1,000. */
  subscribers?: number;
  /** Events appended per second over HTTP. Default 10,000. */
  rate?: number;
  /** Seconds of ingest, after the subscribers are connected. Default 10. */
  durationSeconds?: number;
  /**
   * Seconds at the start of the ingest (part of `durationSeconds`) whose events are delivered and
   * counted but left out of the latency percentiles. Default 1: in the first second the server's, the
   * subscribers' and the ingest's code runs before the JIT has compiled it, and stalls of tens to
   * hundreds of milliseconds that happen once per process would otherwise decide the p99 of a short
   * run (0 for a run of 1 s). 0 measures every event.
   */
  warmupSeconds?: number;
  /** 0 (default): every subscriber gets every event. N: events are keyed `k0`…`k<N-1>` and subscriber i follows key `k<i mod N>`. */
  keys?: number;
  /** Bytes of padding in each event. Default 100. */
  payloadBytes?: number;
  /** Processes holding the subscribers. Default: one per 5,000. */
  processes?: number;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

/**
 * What a load test loads: the process its subscribers run in (speaking the protocol of
 * `loadtest-worker.ts` over IPC), where they connect, where events are appended (a JSON array per
 * POST), and how to read the server's memory. {@link runLoadTest} builds Rivulet's; the fan-out
 * benchmark builds one for a Socket.IO server, so that both are measured by the same code.
 */
export interface LoadTarget {
  workerModule: string;
  connectUrl: string;
  /** The URL to POST events to, given whether events are keyed. */
  ingestUrl(keyed: boolean): string;
  headers: Record<string, string>;
  token?: string | undefined;
  topic: string;
  rss(): Promise<number | null>;
}

/** What a load test measured. */
export interface LoadTestReport {
  subscribers: number;
  connected: number;
  eventsSent: number;
  /** Records received over all subscribers. */
  delivered: number;
  /** Records delivered per second while events were appended (counted up to half a second after the last): what the server keeps up with. */
  deliveredPerSecond: number;
  /** Ingest (before the HTTP request) to receipt (a frame's arrival at the subscriber), in ms, of the events sent after the warm-up. */
  latencyMs: { p50: number | null; p99: number | null; p999: number | null; max: number | null };
  /** Deliveries whose latency is in `latencyMs` (those of events sent after the warm-up). */
  latencySamples: number;
  /** Seconds at the start of the ingest whose events were not measured (see {@link LoadTestOptions.warmupSeconds}). */
  warmupSeconds: number;
  /** The server's resident memory at the end, when the token may read `GET /metrics`. */
  serverRssBytes: number | null;
  errors: string[];
}


/** The worker's module: its TypeScript source when running from source (tsx), else the compiled file. */
function workerModule(): string {
  const ts = fileURLToPath(new URL('./loadtest-worker.ts', import.meta.url));
  return fs.existsSync(ts) ? ts : fileURLToPath(new URL('./loadtest-worker.js', import.meta.url));
}

/** The loader flags this process runs with (tsx, when from source), for the worker processes: nothing else of ours, such as `--test`. */
function loaderArgs(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    if (['--import', '--require', '--loader'].includes(args[i]!)) out.push(args[i]!, args[++i]!);
    else if (/^--(import|require|loader)=/.test(args[i]!)) out.push(args[i]!);
  }
  return out;
}

/** The server's `process_resident_memory_bytes`, or null when `/metrics` is not readable with the token. */
export async function serverRss(url: string, token?: string): Promise<number | null> {
  try {
    const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!res.ok) return null;
    const m = /^process_resident_memory_bytes (\d+)/m.exec(await res.text());
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Runs a load test against a running Rivulet: `subscribers` WebSocket connections (in child processes)
 * follow a topic while `rate` events per second are appended over HTTP for `durationSeconds`; reports
 * delivered records per second, ingest-to-receipt latency percentiles and the server's memory.
 *
 * @example
 * ```ts
 * const report = await runLoadTest({ url: 'http://127.0.0.1:7070', token, subscribers: 1000, rate: 10_000, keys: 1000 });
 * console.log(report.latencyMs.p99);
 * ```
 */
export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestReport> {
  const url = checkServerUrl(options.url);
  const topic = options.topic ?? 'loadtest';
  // Wrong options are refused before anything is created on the server.
  loadShape(options);
  try {
    await apiRequest(url, 'POST', '/v1/topics', { name: topic, partitions: 1 }, options.token);
  } catch (err) {
    if ((err as { code?: string }).code !== 'topic_exists') {
      // Without admin, the topic must exist already: the describe below says so if it does not.
      await apiRequest(url, 'GET', `/v1/topics/${encodeURIComponent(topic)}`, undefined, options.token);
    }
  }
  return runLoad({
    workerModule: workerModule(),
    connectUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
    ingestUrl: (keyed) => `${url}/v1/topics/${encodeURIComponent(topic)}/events${keyed ? '?key=key' : ''}`,
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
    token: options.token,
    topic,
    rss: () => serverRss(url, options.token),
  }, options);
}

/** The load's options with their defaults, checked: an `invalid_argument` error names the first that is wrong. */
function loadShape(options: Omit<LoadTestOptions, 'url' | 'token' | 'topic'>) {
  const subscribers = options.subscribers ?? 1000;
  const rate = options.rate ?? 10_000;
  const duration = options.durationSeconds ?? 10;
  const keys = options.keys ?? 0;
  const warmup = options.warmupSeconds ?? (duration > 1 ? 1 : 0);
  for (const [name, v, min] of [['subscribers', subscribers, 1], ['rate', rate, 1], ['duration', duration, 1], ['keys', keys, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`--${name} must be an integer of at least ${min}, got ${v}`);
  }
  if (typeof warmup !== 'number' || !Number.isFinite(warmup) || warmup < 0 || warmup >= duration) {
    throw new InvalidArgumentError(`--warmup must be at least 0 and less than --duration (${duration} s), got ${warmup}`);
  }
  return { subscribers, rate, duration, keys, warmup, processes: options.processes ?? Math.ceil(subscribers / 5000) };
}

/** Runs a load test against `target` (see {@link runLoadTest}). */
export async function runLoad(target: LoadTarget, options: Omit<LoadTestOptions, 'url' | 'token' | 'topic'>): Promise<LoadTestReport> {
  const { subscribers, rate, duration, keys, warmup, processes } = loadShape(options);
  const pad = 'x'.repeat(options.payloadBytes ?? 100);
  const progress = options.onProgress ?? (() => undefined);

  const workers: ChildProcess[] = [];
  const reports = new Map<ChildProcess, WorkerReport[]>();
  const next = (w: ChildProcess, type: WorkerReport['type']) => new Promise<WorkerReport>((resolve, reject) => {
    const onMessage = (m: WorkerReport) => {
      if (m.type !== type) return;
      w.off('message', onMessage);
      resolve(m);
    };
    w.on('message', onMessage);
    w.once('exit', (code) => reject(new Error(`a load test process exited (${code}) before reporting '${type}'`)));
  });
  const deliveredBy = new Map<ChildProcess, number>();
  try {
    const share = Math.ceil(subscribers / processes);
    for (let i = 0; i < processes; i++) {
      const count = Math.min(share, subscribers - i * share);
      if (count <= 0) break;
      const w = fork(target.workerModule, [], { execArgv: loaderArgs(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(w);
      reports.set(w, []);
      w.on('message', (m: WorkerReport) => {
        if (m.type === 'progress' || m.type === 'done') deliveredBy.set(w, m.delivered);
      });
      w.send({ type: 'start', url: target.connectUrl, ...(target.token ? { token: target.token } : {}), topic: target.topic, first: i * share, count, keys } satisfies WorkerStart);
    }
    progress(`connecting ${subscribers} subscribers in ${workers.length} process${workers.length === 1 ? '' : 'es'}`);
    const ready = (await Promise.all(workers.map((w) => next(w, 'ready')))) as Extract<WorkerReport, { type: 'ready' }>[];
    const connected = ready.reduce((n, r) => n + r.connected, 0);
    const errors = ready.flatMap((r) => r.errors);
    progress(`${connected} connected; appending ${rate} events/s for ${duration} s`);

    // Ingest: a batch every 10 ms, each event stamped with the time it leaves.
    let sent = 0;
    // Deliveries to expect: every event to every subscriber, or, keyed, to the subscribers of its key.
    let expected = 0;
    const followers = (key: number) => Math.floor(connected / keys) + (key < connected % keys ? 1 : 0);
    const started = now();
    // Sent before the first event: a worker hears it long before any event sent after the warm-up.
    if (warmup > 0) for (const w of workers) w.send({ type: 'measure', from: started + warmup * 1000 } satisfies WorkerMeasure);
    const headers = target.headers;
    const path = target.ingestUrl(keys > 0);
    const inflight = new Set<Promise<void>>();
    let lastReport = started;
    while (now() - started < duration * 1000) {
      const due = Math.floor(((now() - started) / 1000) * rate) - sent;
      if (due > 0) {
        const sentAt = now();
        const events = Array.from({ length: due }, (_, j) => ({ ...(keys > 0 ? { key: `k${(sent + j) % keys}` } : {}), seq: sent + j, sentAt, pad }));
        for (let j = 0; j < due; j++) expected += keys > 0 ? followers((sent + j) % keys) : connected;
        sent += due;
        const p = fetch(path, { method: 'POST', headers, body: JSON.stringify(events) }).then(async (res) => {
          if (!res.ok && errors.length < 10) errors.push(`ingest answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
          else await res.arrayBuffer();
        }, (err: Error) => { if (errors.length < 10) errors.push(`ingest failed: ${err.message}`); });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      if (now() - lastReport >= 1000) {
        lastReport = now();
        progress(`${sent} events sent, ${[...deliveredBy.values()].reduce((a, b) => a + b, 0)} delivered`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inflight);
    // The rate counts what arrived within half a second of the last append: a server that falls
    // behind the offered load delivers the rest later, which the total still shows.
    const windowEnd = now() + 500;
    const deliveredSum = () => [...deliveredBy.values()].reduce((a, b) => a + b, 0);
    await new Promise((r) => setTimeout(r, 600));
    const inWindow = deliveredSum();
    const elapsed = (windowEnd - started) / 1000;
    // Drain: what was sent reaches every subscriber that follows it (bounded by a few seconds).
    const drainUntil = now() + 10_000;
    while (now() < drainUntil && deliveredSum() < expected) await new Promise((r) => setTimeout(r, 100));
    const serverRssBytes = await target.rss();
    const done = (await Promise.all(workers.map((w) => {
      const d = next(w, 'done');
      w.send({ type: 'stop' });
      return d;
    }))) as Extract<WorkerReport, { type: 'done' }>[];
    const histogram = new LatencyHistogram();
    for (const d of done) histogram.merge(LatencyHistogram.fromSparse(d.histogram));
    const delivered = done.reduce((n, d) => n + d.delivered, 0);
    return {
      subscribers,
      connected,
      eventsSent: sent,
      delivered,
      deliveredPerSecond: Math.round(inWindow / elapsed),
      latencyMs: { p50: histogram.percentile(0.5), p99: histogram.percentile(0.99), p999: histogram.percentile(0.999), max: histogram.total ? histogram.max : null },
      latencySamples: histogram.total,
      warmupSeconds: warmup,
      serverRssBytes,
      errors: [...errors, ...done.flatMap((d) => d.errors)].slice(0, 10),
    };
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill();
  }
}

/** A report as the lines `rivulet loadtest` prints. */
export function formatLoadTest(r: LoadTestReport): string {
  const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)} ms`);
  return [
    `subscribers   ${r.connected} of ${r.subscribers} connected`,
    `events sent   ${r.eventsSent.toLocaleString('en')}`,
    `delivered     ${r.delivered.toLocaleString('en')} (${r.deliveredPerSecond.toLocaleString('en')}/s)`,
    `latency       (${r.latencySamples.toLocaleString('en')} deliveries${r.warmupSeconds > 0 ? ` after the first ${r.warmupSeconds} s` : ''}) p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}, p99.9 ${ms(r.latencyMs.p999)}, max ${ms(r.latencyMs.max)}`,
    `server RSS    ${r.serverRssBytes === null ? '– (needs a token with scope metrics)' : `${(r.serverRssBytes / 2 ** 20).toFixed(0)} MiB`}`,
    ...(r.errors.length > 0 ? [`errors        ${r.errors.join('; ')}`] : []),
  ].join('\n');
}
