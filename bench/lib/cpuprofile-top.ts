/**
 * `npx tsx bench/lib/cpuprofile-top.ts <file.cpuprofile> [n]`: the `n` (default 15) functions with the
 * most self time in a V8 CPU profile (`node --cpu-prof`), with their share of all samples.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** A V8 `.cpuprofile`: call-tree nodes, the node of each sample, and the time before each sample (µs). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (`name file:line`), largest first, in microseconds, and the total. */
export function selfTimes(profile: CpuProfile): { total: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const f = byId.get(id)!.callFrame;
    // tsx compiles a .ts file to one line, so a line number is shown only where it means something.
    const file = f.url.replace(/^.*?\/(node_modules|src|bench)\//, '$1/');
    const where = f.url ? ` ${file}${f.lineNumber > 0 ? `:${f.lineNumber + 1}` : ''}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return { total, rows: [...self].sort((a, b) => b[1] - a[1]) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const [file, n = '15'] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpuprofile-top.ts <file.cpuprofile> [n]');
  const { total, rows } = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile);
  console.log(`${(total / 1000).toFixed(0)} ms sampled`);
  for (const [fn, us] of rows.slice(0, Number(n))) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${fn}`);
}
