import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { InvalidArgumentError, TaskFailedError } from '../../core/errors.js';
import type { OutputRecord } from '../bounded.js';
import { taskForKey } from './exchange.js';
import type { InputsExport, ModuleExport, TaskReport, TaskSetup, WorkerMessage } from './protocol.js';

export type { InputsExport, ModuleExport } from './protocol.js';

/** Options of {@link runParallel}. */
export interface ParallelRunOptions {
  /** The module export that is the pipeline (`definePipeline(…)`): each task's thread imports it. */
  pipeline: ModuleExport;
  /**
   * The input of every source topic. Arrays are dealt to the tasks round robin (event `i` to task
   * `i % tasks`), each task's share in the array's order. A module export is a function
   * `(task, tasks, args) => Record<topic, Iterable>` that each task calls for its own share, so that
   * large or generated inputs never cross threads.
   */
  inputs: Record<string, readonly unknown[]> | InputsExport;
  /**
   * Deal an array input by key instead of round robin: each event to the task that owns its key
   * ({@link taskForKey}). When a `keyBy` keys by the same key, every event is already where its key
   * is kept and nothing crosses between tasks (the input is co-partitioned, as a topic partitioned by
   * that key is). A module's input deals its shares itself, with `taskForKey`.
   */
  dealBy?: Record<string, (event: never) => unknown>;
  /** Tasks, each on its own worker thread. Default: the machine's available parallelism. */
  tasks?: number;
  /** Events a task takes from one input at a time. Default 1000. */
  batchSize?: number;
  /** Return the output records (`'records'`, default) or only how many each topic received (`'count'`). */
  outputs?: 'records' | 'count';
  /**
   * For measuring: run the pipeline this many times over the same input in the same threads (fresh
   * operators each time; compiled code and heaps kept warm), one run after the other. The result is
   * the last run's; `runSeconds` has each run's time. Default 1. The input must be iterable again
   * (arrays are; a module's iterables must be too).
   */
  runs?: number;
  /**
   * Aggregate in two phases: for tumbling and hopping windows (final results) each task adds its own
   * events into accumulators per key and window and sends the owner of the key one partial per window
   * when the window ends; for running aggregates (`keyBy().aggregate()`) one partial per key it
   * touched after each batch — instead of every event (Flink's local–global aggregation). The window
   * results are the same; a running aggregate's changelog reaches the same values in fewer steps. The
   * exchange carries far less. Default true.
   */
  combine?: boolean;
  /**
   * The most memory, in MB, each task's heap gives its young generation (V8's `maxYoungGenerationSizeMb`).
   * Default 256: events that cross between tasks are new objects in the receiving task, and at V8's
   * default of a few tens of MB the collector copies many of them before they die (a third of a task's
   * time in Nexmark q9; 18 % at 256 MB).
   */
  youngGenerationMb?: number;
}

/** What {@link runParallel} returns. */
export interface ParallelRunResult {
  /** Output records per topic: each task's in its order, the tasks one after the other (empty in `'count'` mode). */
  outputs: Map<string, OutputRecord[]>;
  /** Output records per topic, summed over the tasks. */
  counts: Map<string, number>;
  eventsIn: number;
  lateEvents: number;
  /** Seconds from the moment every task was ready (inputs prepared) until the last finished. */
  seconds: number;
  /** Each run's seconds, when `runs` was given (the last is `seconds`). */
  runSeconds: number[];
  /** Per task: events read from its input and events it sent to other tasks at a `keyBy`. */
  tasks: { eventsIn: number; sent: number }[];
}

function moduleUrl(m: string | URL): string {
  if (m instanceof URL) return m.href;
  return /^(file|data):/.test(m) ? m : pathToFileURL(path.resolve(m)).href;
}

function checkExport(value: unknown, what: string): ModuleExport {
  const m = value as ModuleExport | undefined;
  if (m === null || typeof m !== 'object' || (typeof m.module !== 'string' && !(m.module instanceof URL))) {
    throw new InvalidArgumentError(`runParallel: ${what} must be { module, export? } naming a module (a worker thread imports it), got ${typeof value}`);
  }
  return m;
}

/** Task `task`'s share of an array input: round robin, or by the key's owner. */
function shareOf(events: readonly unknown[], task: number, tasks: number, key: ((event: never) => unknown) | undefined): unknown[] {
  if (key === undefined) return events.filter((_, i) => i % tasks === task);
  return events.filter((e) => taskForKey(key(e as never), tasks) === task);
}

const isTypeScript = (url: string) => /\.[cm]?tsx?$/.test(new URL(url).pathname);

/**
 * Starts a task's worker. Under TypeScript (development, or a pipeline written in TypeScript) the
 * worker first registers tsx's loader, which worker threads do not inherit.
 */
function startWorker(setup: TaskSetup, transfer: MessagePort[], youngGenerationMb: number): Worker {
  const self = import.meta.url;
  const entry = new URL(`./worker${self.endsWith('.ts') ? '.ts' : '.js'}`, self).href;
  const urls = [entry, setup.pipeline.url, ...(setup.inputs.kind === 'module' ? [setup.inputs.url] : [])];
  const options = { workerData: setup, transferList: transfer, resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb } };
  if (!urls.some(isTypeScript)) return new Worker(new URL(entry), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { ...options, eval: true });
}

/**
 * Runs a pipeline over finite inputs on several threads: one task per thread, each reading its share
 * of the input with its own operators. At every `keyBy` the tasks exchange events so that each key is
 * held by exactly one task, and the operators after it advance to the smallest watermark of all the
 * tasks — the answer is the one {@link runBounded} gives for the same events (see docs/semantics.md
 * for where order may differ). Use it to use every core on a batch job, or to measure the engine's scaling.
 *
 * The pipeline and a generated input are named by module and export, since code cannot be sent to
 * a thread: every task imports them itself.
 *
 * @example
 * ```ts
 * const { counts, seconds } = await runParallel({
 *   pipeline: { module: new URL('./pipelines.js', import.meta.url), export: 'cardStats' },
 *   inputs: { payments: loadPayments() },
 *   tasks: 2,
 *   outputs: 'count',
 * });
 * ```
 */
export async function runParallel(options: ParallelRunOptions): Promise<ParallelRunResult> {
  const tasks = options.tasks ?? os.availableParallelism();
  if (!Number.isInteger(tasks) || tasks < 1 || tasks > 256) throw new InvalidArgumentError(`runParallel: tasks must be an integer from 1 to 256, got ${tasks}`);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidArgumentError(`runParallel: batchSize must be a positive integer, got ${batchSize}`);
  const youngGenerationMb = options.youngGenerationMb ?? 256;
  if (!(youngGenerationMb > 0)) throw new InvalidArgumentError(`runParallel: youngGenerationMb must be a positive number, got ${youngGenerationMb}`);
  const runs = options.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new InvalidArgumentError(`runParallel: runs must be a positive integer, got ${runs}`);
  const pipeline = checkExport(options.pipeline, 'pipeline');
  const inputs = options.inputs;
  const byModule = inputs !== null && typeof inputs === 'object' && 'module' in inputs && !Array.isArray(inputs.module);
  if (!byModule) {
    for (const [topic, events] of Object.entries(inputs)) {
      if (!Array.isArray(events)) throw new InvalidArgumentError(`runParallel: the input of topic '${topic}' must be an array (or give inputs as { module, export })`);
    }
  }

  const ports: (MessagePort | null)[][] = Array.from({ length: tasks }, () => new Array<MessagePort | null>(tasks).fill(null));
  for (let a = 0; a < tasks; a++) {
    for (let b = a + 1; b < tasks; b++) {
      const { port1, port2 } = new MessageChannel();
      ports[a]![b] = port1;
      ports[b]![a] = port2;
    }
  }
  const bells = new SharedArrayBuffer(4 * tasks);
  const workers: Worker[] = [];
  try {
    for (let t = 0; t < tasks; t++) {
      const share = byModule
        ? { kind: 'module' as const, url: moduleUrl((inputs as InputsExport).module), export: (inputs as InputsExport).export ?? 'default', args: (inputs as InputsExport).args }
        : { kind: 'arrays' as const, data: Object.fromEntries(Object.entries(inputs as Record<string, readonly unknown[]>).map(([topic, events]) => [topic, shareOf(events, t, tasks, options.dealBy?.[topic])])) };
      const setup: TaskSetup = {
        task: t, tasks, ports: ports[t]!, bells,
        pipeline: { url: moduleUrl(pipeline.module), export: pipeline.export ?? 'default' },
        inputs: share, batchSize, outputs: options.outputs ?? 'records', combine: options.combine ?? true,
      };
      workers.push(startWorker(setup, ports[t]!.filter((p): p is MessagePort => p !== null), youngGenerationMb));
    }

    let started = 0;
    const runSeconds: number[] = [];
    const reports = await new Promise<TaskReport[]>((resolve, reject) => {
      let done: TaskReport[] = new Array(tasks);
      let ready = 0;
      let finished = 0;
      // Every task starts a run only when all have finished the one before: the exchanges of two
      // runs never share the links.
      const go = () => {
        finished = 0;
        done = new Array(tasks);
        started = performance.now();
        for (const x of workers) x.postMessage({ go: true });
      };
      workers.forEach((w, t) => {
        w.on('error', (err) => reject(new TaskFailedError(t, err.message, { cause: err })));
        w.on('exit', (code) => reject(new TaskFailedError(t, `its thread exited (code ${code}) before it finished`)));
        w.on('message', (m: WorkerMessage) => {
          if ('ready' in m) {
            if (++ready === tasks) go();
          } else if ('done' in m) {
            done[t] = m.done;
            if (++finished < tasks) return;
            runSeconds.push((performance.now() - started) / 1000);
            if (runSeconds.length < runs) go();
            else resolve(done);
          } else {
            const cause = Object.assign(new Error(m.failed.message), { name: m.failed.name, code: m.failed.code, stack: m.failed.stack });
            reject(new TaskFailedError(t, m.failed.message, { cause }));
          }
        });
      });
    });
    const seconds = runSeconds.at(-1)!;
    const outputs = new Map<string, OutputRecord[]>();
    const counts = new Map<string, number>();
    for (const r of reports) {
      for (const [topic, records] of r.records) {
        const list = outputs.get(topic);
        if (list === undefined) outputs.set(topic, records);
        else for (const rec of records) list.push(rec);
        counts.set(topic, (counts.get(topic) ?? 0) + records.length);
      }
      for (const [topic, n] of r.counts) counts.set(topic, (counts.get(topic) ?? 0) + n);
    }
    return {
      outputs,
      counts,
      eventsIn: reports.reduce((n, r) => n + r.eventsIn, 0),
      lateEvents: reports.reduce((n, r) => n + r.lateEvents, 0),
      seconds,
      runSeconds,
      tasks: reports.map((r) => ({ eventsIn: r.eventsIn, sent: r.sent })),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
