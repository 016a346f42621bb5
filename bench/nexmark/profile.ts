/**
 * `npx tsx bench/nexmark/profile.ts q4 [events] [runs] [top]`: one Nexmark query through `runBounded`,
 * repeatedly, over events generated beforehand, with the CPU profiler on only while the query runs
 * (not while events are generated or modules load). Prints each run's events/s and the `top` (default
 * 12) functions by self time, and writes the profile to `/tmp/nexmark-<query>.cpuprofile` (open it in
 * Chrome's DevTools, or `npx tsx bench/lib/cpuprofile-top.ts <file> 30`).
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { runBounded } from '../../src/mod.js';
import { NexmarkGenerator } from '../../examples/nexmark/generator.js';
import { NEXMARK_TOPIC, queries, type QueryName } from '../../examples/nexmark/queries.js';
import { selfTimes, type CpuProfile } from '../lib/cpuprofile-top.js';

const [name = 'q4', count = '1000000', runs = '5', top = '12'] = process.argv.slice(2);
if (!(name in queries)) throw new Error(`unknown query ${name}; one of ${Object.keys(queries).join(', ')}`);
const events = new NexmarkGenerator().fill(0, Number(count), []);
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
// Out of the inspector's call stack: code run from its reply would be sampled under its frame.
await new Promise((resolve) => setImmediate(resolve));
for (let r = 0; r < Number(runs); r++) {
  const started = performance.now();
  let outputs = 0;
  runBounded(queries[name as QueryName], { [NEXMARK_TOPIC]: events }, { onOutput: (_t, recs) => { outputs += recs.length; } });
  const s = (performance.now() - started) / 1000;
  console.log(`${name} run ${r}: ${Math.round(events.length / s).toLocaleString('en')} events/s, ${outputs} outputs`);
}
const { profile } = await session.post('Profiler.stop');
session.disconnect();
const file = `/tmp/nexmark-${name}.cpuprofile`;
fs.writeFileSync(file, JSON.stringify(profile));
const all = selfTimes(profile as unknown as CpuProfile);
// `dispatch` is the inspector answering `Profiler.stop` (building the profile), not the query.
const rows = all.rows.filter(([fn]) => fn !== 'dispatch');
const total = rows.reduce((sum, [, us]) => sum + us, 0);
console.log(`${(total / 1000).toFixed(0)} ms sampled (${file})`);
for (const [fn, us] of rows.slice(0, Number(top))) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${fn}`);
