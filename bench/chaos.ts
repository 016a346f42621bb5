/**
 * `npm run bench -- chaos [--quick] [--kills N]`: the crash test of `test/e2e/chaos.test.ts` at length —
 * 100 SIGKILLs (20 with --quick) at random points of a run, per state backend, then the outputs and
 * views compared with an uninterrupted run of the same input. `chaos.<backend>.equal` is 1 when every
 * output topic and view is the same (target 1).
 */
import { isDeepStrictEqual } from 'node:util';
import { killRepeatedly, OUTPUTS, prepare, results, runToEnd } from '../test/helpers/chaos.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';
import { tempDir } from './lib/temp.js';

export async function run(options: BenchOptions): Promise<void> {
  const at = options.args.indexOf('--kills');
  const kills = at >= 0 ? Number(options.args[at + 1]) : options.quick ? 20 : 100;
  // A restarted run commits at least one round of reads (1,000 records per partition, 8,000 events)
  // before it can be killed: the input grows with the kills (7,500 orders per kill: 1.5 M events for
  // 100) so that all of them fall within the run.
  const orders = 7500 * kills;
  for (const backend of ['memory', 'lmdb'] as const) {
    process.env.CHAOS_STATE = backend;
    const clean = tempDir(`chaos-clean-${backend}`);
    const chaos = tempDir(`chaos-killed-${backend}`);
    const total = await prepare(clean.dir, orders);
    await prepare(chaos.dir, orders);
    const expected = await results(clean.dir, await runToEnd(clean.dir, total));
    const started = performance.now();
    const committedAtKill = await killRepeatedly(chaos.dir, total, kills, 100 + kills);
    const actual = await results(chaos.dir, await runToEnd(chaos.dir, total));
    const differing = [
      ...OUTPUTS.filter((t) => !isDeepStrictEqual(actual.topics[t], expected.topics[t])),
      ...(isDeepStrictEqual(actual.view, expected.view) ? [] : ['views']),
      ...(isDeepStrictEqual(actual.milestones, expected.milestones) ? [] : ['milestones']),
    ];
    progress(`${backend}: ${kills} kills, ${differing.length === 0 ? 'all outputs and views equal' : `differ: ${differing.join(', ')}`}`);
    emit({
      name: `chaos.${backend}.equal`, value: differing.length === 0 ? 1 : 0, unit: 'bool', target: 1, kills, orders,
      kills_before_end: committedAtKill.filter((n) => n < total).length, events: total,
      output_records: Object.values(expected.topics).flat(2).length, differing, seconds: Math.round((performance.now() - started) / 1000),
    });
    clean.remove();
    chaos.remove();
  }
  delete process.env.CHAOS_STATE;
}
