/**
 * The worker thread of one task of a parallel run: imports the pipeline and its share of the input,
 * reports ready, and on `go` runs the pipeline to the end of its input, exchanging keyed events with
 * the other tasks. See `run-parallel.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PipelineDefinitionError, RivuletError } from '../../core/errors.js';
import { BoundedRun, type OutputRecord } from '../bounded.js';
import type { PipelineDefinition } from '../pipeline.js';
import { isEdgeTimed } from '../operators/operator.js';
import type { ExchangeOperator } from './exchange.js';
import { TaskLinks, type LinkPart } from './links.js';
import { taskKeyByCompiler } from './task-compiler.js';
import type { TaskReport, TaskSetup, WorkerMessage } from './protocol.js';

const setup = workerData as TaskSetup;
/**
 * How long outgoing events and watermarks wait for a flush while the task reads its input: a message
 * costs tens of microseconds at both ends whatever it holds, so a few events wait longer, for company.
 */
const FLUSH_MS = 2;
/** Fewer events than this wait up to {@link FLUSH_MAX_MS}. */
const FLUSH_MIN_EVENTS = 512;
const FLUSH_MAX_MS = 20;
const port = parentPort!;

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

async function importExport(url: string, name: string, what: string): Promise<unknown> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    throw new RivuletError('module_load_failed', `cannot load the ${what} module ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!(name in mod)) throw new RivuletError('module_export_missing', `the ${what} module ${url} has no export '${name}'`);
  return mod[name];
}

async function prepare(): Promise<() => TaskReport> {
  const def = (await importExport(setup.pipeline.url, setup.pipeline.export, 'pipeline')) as PipelineDefinition;
  if (def === null || typeof def !== 'object' || typeof def.name !== 'string' || typeof def.setup !== 'function') {
    throw new PipelineDefinitionError(`export '${setup.pipeline.export}' of ${setup.pipeline.url} is not a pipeline; export definePipeline({ name, setup(app) { … } })`);
  }
  let inputs: Record<string, Iterable<unknown>>;
  if (setup.inputs.kind === 'arrays') inputs = setup.inputs.data;
  else {
    const factory = await importExport(setup.inputs.url, setup.inputs.export, 'inputs');
    if (typeof factory !== 'function') throw new RivuletError('invalid_inputs', `export '${setup.inputs.export}' of ${setup.inputs.url} is not a function (task, tasks, args) => inputs`);
    inputs = (factory as (task: number, tasks: number, args: unknown) => Record<string, Iterable<unknown>>)(setup.task, setup.tasks, setup.inputs.args);
  }
  const ports = setup.ports.map((p) => p ?? undefined);
  const links = new TaskLinks(setup.task, setup.tasks, ports, new Int32Array(setup.bells));
  /** A fresh run of the pipeline (new operators and exchanges) over the task's input. */
  const build = () => {
    const exchanges: ExchangeOperator[] = [];
    const keyBy = taskKeyByCompiler(links, setup.combine, exchanges);
    const run = new BoundedRun(def, inputs, setup.batchSize, keyBy);
    for (const op of run.operators.values()) if (isEdgeTimed(op)) op.edgeTimed = true;
    return () => execute(run, links, exchanges);
  };
  // The first run is built now, so that a pipeline that cannot run over these inputs fails before `ready`.
  let next: (() => TaskReport) | undefined = build();
  return () => {
    const go = next ?? build();
    next = undefined;
    return go();
  };
}

/** Runs the task's input to its end, then serves the exchanges until every task has finished them. */
function execute(run: BoundedRun, links: TaskLinks, exchanges: ExchangeOperator[]): TaskReport {
  const records = new Map<string, OutputRecord[]>();
  const counts = new Map<string, number>();
  const collect = setup.outputs === 'records'
    ? (topic: string, rs: OutputRecord[]) => {
      const list = records.get(topic);
      if (list === undefined) records.set(topic, rs);
      else for (const r of rs) list.push(r);
    }
    : (topic: string, rs: OutputRecord[]) => counts.set(topic, (counts.get(topic) ?? 0) + rs.length);
  let sent = 0;
  const deliver = (from: number, part: LinkPart) => {
    const x = exchanges[part.x]!;
    if ('wm' in part) x.receiveWatermark(from, part.wm);
    else x.receiveRemote(part);
  };
  // Outgoing events are sent once enough have gathered or a little time has passed, and always
  // before this task waits: fewer, larger messages.
  const flushEvents = setup.batchSize * 4;
  let lastFlush = performance.now();
  const flush = () => {
    links.flush(exchanges);
    lastFlush = performance.now();
  };
  let ended = false;
  for (;;) {
    const seen = links.bell();
    const got = links.poll(deliver);
    if (!ended) {
      if (links.congested()) {
        flush();
        if (!got) links.wait(seen);
        continue;
      }
      if (!run.step()) {
        run.broadcast(Infinity);
        ended = true;
        flush();
      } else {
        let waiting = 0;
        for (const x of exchanges) waiting += x.waiting;
        if (waiting >= flushEvents) flush();
        else {
          const since = performance.now() - lastFlush;
          if (since >= FLUSH_MAX_MS || (since >= FLUSH_MS && waiting >= FLUSH_MIN_EVENTS)) flush();
        }
      }
      run.drain(collect);
      continue;
    }
    run.drain(collect);
    flush();
    if (exchanges.every((x) => x.finished)) break;
    if (!got) links.wait(seen);
  }
  for (const x of exchanges) sent += x.eventsSent;
  return { eventsIn: run.eventsIn, lateEvents: run.lateEvents(), records: [...records], counts: [...counts], sent };
}

function failed(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  post({ failed: { name: e.name, message: e.message, code: (e as { code?: string }).code, stack: e.stack } });
}

prepare().then((go) => {
  port.on('message', (m: { go?: true }) => {
    if (!m.go) return;
    try {
      post({ done: go() });
    } catch (err) {
      failed(err);
    }
  });
  post({ ready: true });
}, failed);
