/**
 * `npm run bench -- nexmark [--quick] [q…]`: Nexmark q0 – q9 and q11 through `runBounded` on one core,
 * over events generated beforehand into memory (examples/nexmark/generator.ts), against a hand-written
 * plain TypeScript loop computing the same answer over the same events (bench/nexmark/baselines.ts).
 *
 * Every query counts all events of the stream (persons, auctions and bids), as Nexmark does. Each
 * system runs the query `rounds` times, alternating; the best round counts. See docs/benchmarks.md.
 */
import { runBounded, type PipelineDefinition } from '../src/mod.js';
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

/** Parses `--events N` (default 1,000,000; 200,000 with `--quick`) and `--rounds N` (default 3; 1 with `--quick`). */
function flag(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

export async function run(options: BenchOptions): Promise<void> {
  const count = flag(options.args, '--events', options.quick ? 200_000 : 1_000_000);
  const rounds = flag(options.args, '--rounds', options.quick ? 1 : 3);
  const only = options.args.filter((a) => /^q\d+$/.test(a));

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
