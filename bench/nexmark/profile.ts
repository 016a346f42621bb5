/**
 * `node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/nexmark/profile.ts q4 [events] [runs]`:
 * one Nexmark query through `runBounded`, repeatedly, over pre-generated events, for a CPU profile
 * (read it with `npx tsx bench/lib/cpuprofile-top.ts /tmp/prof/<file>.cpuprofile 15`).
 */
import { runBounded } from '../../src/mod.js';
import { NexmarkGenerator } from '../../examples/nexmark/generator.js';
import { NEXMARK_TOPIC, queries, type QueryName } from '../../examples/nexmark/queries.js';

const [name = 'q4', count = '1000000', runs = '5'] = process.argv.slice(2);
if (!(name in queries)) throw new Error(`unknown query ${name}; one of ${Object.keys(queries).join(', ')}`);
const events = new NexmarkGenerator().fill(0, Number(count), []);
for (let r = 0; r < Number(runs); r++) {
  const started = performance.now();
  let outputs = 0;
  runBounded(queries[name as QueryName], { [NEXMARK_TOPIC]: events }, { onOutput: (_t, recs) => { outputs += recs.length; } });
  const s = (performance.now() - started) / 1000;
  console.log(`${name} run ${r}: ${Math.round(events.length / s).toLocaleString('en')} events/s, ${outputs} outputs`);
}
