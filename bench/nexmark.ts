/**
 * `npm run bench -- nexmark [--quick] [--events N] [--parallel-events N] [--rounds N] [--cores-only | --no-cores] [q…]`:
 *
 * - One core: Nexmark q0 – q9 and q11 through `runBounded`, over events generated beforehand into
 *   memory (examples/nexmark/generator.ts), against a hand-written plain TypeScript loop computing the
 *   same answer over the same events (bench/nexmark/baselines.ts).
 * - All cores: the same queries through `runParallel` on 1 task and on one task per core (worker
 *   threads; each task generates its share of the events before the clock starts; a warm-up run, then
 *   `rounds` runs in the same threads), the one-task run being the baseline of the scaling ratio.
 *
 * Every query counts all events of the stream (persons, auctions and bids), as Nexmark does. Each
 * system runs the query `rounds` times, alternating; the best round counts. See docs/benchmarks.md.
 */
import os from 'node:os';
import { runBounded, runParallel, type PipelineDefinition } from '../src/mod.js';
import type { NexmarkEvent } from '../examples/nexmark/events.js';
import { measureGenerator, NexmarkGenerator } from '../examples/nexmark/generator.js';
import { NEXMARK_TOPIC, queries } from '../examples/nexmark/queries.js';
import * as loops from './nexmark/baselines.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';

const CASES = [
  { name: 'q0', target: 1_000_000 },
  { name: 'q1', target: 1_000_000 },
  { name: 'q2', target: 1_000_000 },
  { name: 'q3', target: 500_000 },
  { name: 'q4', target: 250_000 },
  { name: 'q5', target: 250_000 },
  { name: 'q6', target: 250_000 },
  { name: 'q7', target: 250_000 },
  { name: 'q8', target: 500_000 },
  { name: 'q9', target: 250_000 },
  { name: 'q11', target: 250_000 },
] as const;

type CaseName = (typeof CASES)[number]['name'];

/** Output size of a baseline's answer (q4's is a map of categories). */
function size(answer: unknown[] | Map<unknown, unknown>): number {
  return answer instanceof Map ? answer.size : answer.length;
}

function timeRivulet(q: PipelineDefinition, events: NexmarkEvent[]): { seconds: number; outputs: number } {
  let outputs = 0;
  const started = performance.now();
  runBounded(q, { [NEXMARK_TOPIC]: events }, { onOutput: (_topic, records) => { outputs += records.length; } });
  return { seconds: (performance.now() - started) / 1000, outputs };
}

function timeLoop(name: CaseName, events: NexmarkEvent[]): { seconds: number; outputs: number } {
  const started = performance.now();
  const answer = loops[name](events);
  return { seconds: (performance.now() - started) / 1000, outputs: size(answer) };
}

/** Parses `--events N` (default 1,000,000; 200,000 with `--quick`), `--parallel-events N` (6,000,000; 400,000) and `--rounds N` (5; 1). */
function flag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const queriesModule = new URL('../examples/nexmark/queries.ts', import.meta.url);
const generatorModule = new URL('../examples/nexmark/generator.ts', import.meta.url);

const ceilingModule = new URL('./nexmark/ceiling.ts', import.meta.url);
/** Queries whose first `keyBy` is by auction: also run over an input dealt to tasks by auction. */
const BY_AUCTION = new Set<string>(['q4', 'q5', 'q6', 'q9']);

/**
 * Events/s of a query on `tasks` worker threads, the best of `rounds` runs in the same threads after
 * one to warm up. `lazy` generates the events as they are read, inside the measured time.
 */
async function timeParallel(name: CaseName | 'dropAll', count: number, tasks: number, rounds: number, lazy = false, byAuction = false): Promise<{ value: number; outputs: number; sent: number }> {
  // A warm-up run, then `rounds` runs in the same threads; the fastest counts.
  const res = await runParallel({
    pipeline: { module: name === 'dropAll' ? ceilingModule : queriesModule, export: name },
    inputs: { module: generatorModule, export: 'nexmarkShare', args: { events: count, lazy, byAuction } },
    tasks,
    outputs: 'count',
    runs: rounds + 1,
  });
  if (res.eventsIn !== count) throw new Error(`${name} on ${tasks} tasks read ${res.eventsIn} events, not ${count}`);
  const best = Math.min(...res.runSeconds.slice(1));
  return { value: count / best, outputs: res.counts.get(name) ?? 0, sent: res.tasks.reduce((n, t) => n + t.sent, 0) };
}

/** Each query on one task and on one task per core: the scaling of the parallel runtime. */
async function runCores(count: number, rounds: number, only: readonly string[]): Promise<void> {
  const cores = os.availableParallelism();
  if (cores < 2) {
    progress(`one core only: no scaling figures`);
    return;
  }
  // What the machine gives: the generator and the source loop alone, on 1 task and on all.
  const genOne = await timeParallel('dropAll', count, 1, rounds, true);
  const genAll = await timeParallel('dropAll', count, cores, rounds, true);
  emit({
    name: `nexmark.generate_and_read.cores_${cores}`, value: genAll.value, unit: 'events/s', baseline: genOne.value,
    baseline_is: 'the same on 1 task', what: 'events generated while read, every one dropped: the scaling the machine allows before any query work',
    events: count, rounds, cores,
  });
  progress(`generate and read: ${Math.round(genOne.value).toLocaleString('en')} events/s on 1 task, ${Math.round(genAll.value).toLocaleString('en')} on ${cores} (${(genAll.value / genOne.value).toFixed(2)}×)`);
  for (const c of CASES) {
    if (only.length > 0 && !only.includes(c.name)) continue;
    const one = await timeParallel(c.name, count, 1, rounds);
    const all = await timeParallel(c.name, count, cores, rounds);
    if (c.name !== 'q4' && one.outputs !== all.outputs) throw new Error(`${c.name}: ${one.outputs} records on 1 task, ${all.outputs} on ${cores}`);
    emit({
      name: `nexmark.${c.name}.cores_${cores}`, value: all.value, unit: 'events/s', baseline: one.value, target: 1.7, target_of: 'ratio',
      baseline_is: 'the same query on 1 task (runParallel, one worker thread)', events: count, rounds, cores,
      exchanged: all.sent, outputs: all.outputs,
    });
    progress(`${c.name}: ${Math.round(one.value).toLocaleString('en')} events/s on 1 task, ${Math.round(all.value).toLocaleString('en')} on ${cores} (${(all.value / one.value).toFixed(2)}×), ${all.sent.toLocaleString('en')} events exchanged`);
    if (!BY_AUCTION.has(c.name)) continue;
    // The same query over an input partitioned by auction (a topic keyed by auction): its first keyBy sends nothing.
    const co = await timeParallel(c.name, count, cores, rounds, false, true);
    if (c.name !== 'q4' && co.outputs !== one.outputs) throw new Error(`${c.name}: ${one.outputs} records on 1 task, ${co.outputs} on ${cores} with the input by auction`);
    emit({
      name: `nexmark.${c.name}.cores_${cores}.by_auction`, value: co.value, unit: 'events/s', baseline: one.value, target: 1.7, target_of: 'ratio',
      baseline_is: 'the same query on 1 task (runParallel, one worker thread)', input: 'dealt to tasks by auction (co-partitioned)',
      events: count, rounds, cores, exchanged: co.sent, outputs: co.outputs,
    });
    progress(`${c.name}, input by auction: ${Math.round(co.value).toLocaleString('en')} on ${cores} (${(co.value / one.value).toFixed(2)}×), ${co.sent.toLocaleString('en')} exchanged`);
  }
}

export async function run(options: BenchOptions): Promise<void> {
  const count = flag(options.args, '--events', options.quick ? 200_000 : 1_000_000);
  const rounds = flag(options.args, '--rounds', options.quick ? 1 : 5);
  const only = options.args.filter((a) => /^q\d+$/.test(a));
  if (!options.args.includes('--cores-only')) runOneCore(count, rounds, only);
  if (!options.args.includes('--no-cores')) await runCores(flag(options.args, '--parallel-events', options.quick ? 400_000 : 6_000_000), rounds, only);
}

function runOneCore(count: number, rounds: number, only: readonly string[]): void {
  const gen = measureGenerator(count);
  emit({ name: 'nexmark.generator.events', value: gen.eventsPerSecond, unit: 'events/s', events: count, into: 'one array (kept)' });
  progress(`generator: ${Math.round(gen.eventsPerSecond).toLocaleString('en')} events/s`);
  const events = new NexmarkGenerator().fill(0, count, []);
  const warm = events.slice(0, Math.min(count, 100_000));
  const span = (events.at(-1)!.dateTime - events[0]!.dateTime) / 1000;

  for (const c of CASES) {
    if (only.length > 0 && !only.includes(c.name)) continue;
    const q = queries[c.name];
    timeRivulet(q, warm);
    timeLoop(c.name, warm);
    let best = Infinity;
    let bestLoop = Infinity;
    let outputs = 0;
    let loopOutputs = 0;
    for (let r = 0; r < rounds; r++) {
      const a = timeRivulet(q, events);
      const b = timeLoop(c.name, events);
      best = Math.min(best, a.seconds);
      bestLoop = Math.min(bestLoop, b.seconds);
      outputs = a.outputs;
      loopOutputs = b.outputs;
    }
    // q4's pipeline emits a changelog of averages; the loop, the final average per category.
    if (c.name !== 'q4' && outputs !== loopOutputs) throw new Error(`${c.name}: Rivulet gave ${outputs} records, the loop ${loopOutputs}`);
    const value = count / best;
    const baseline = count / bestLoop;
    const extra = { events: count, event_time_s: span, rounds, outputs, cores: 1 };
    emit({ name: `nexmark.${c.name}.events`, value, unit: 'events/s', target: c.target, target_of: 'value', ...extra });
    emit({ name: `nexmark.${c.name}.vs_loop`, value, unit: 'events/s', baseline, target: 0.5, target_of: 'ratio', baseline_is: 'hand-written TypeScript loop (bench/nexmark/baselines.ts)', ...extra });
    progress(`${c.name}: ${Math.round(value).toLocaleString('en')} events/s, loop ${Math.round(baseline).toLocaleString('en')} events/s`);
  }
}
