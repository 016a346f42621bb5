/**
 * `npm run bench -- <name> [--quick] [flags]`: runs `bench/<name>.ts`, which prints one JSON
 * figure per line on stdout (see docs/benchmarks.md). Progress goes to stderr.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseOptions, type BenchModule } from './lib/options.js';
import { progress } from './lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The benchmarks: `bench/*.ts` other than this file and child-process entry points (`*-child.ts`). */
function available(): string[] {
  return fs
    .readdirSync(here)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('-child.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  const names = available();
  if (!name || !names.includes(name)) {
    process.stderr.write(`usage: npm run bench -- <name> [--quick]\n${name ? `unknown benchmark '${name}'. ` : ''}benchmarks: ${names.join(', ')}\n`);
    return 2;
  }
  const mod = (await import(pathToFileURL(path.join(here, `${name}.ts`)).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') throw new Error(`bench/${name}.ts does not export run(options)`);
  const options = parseOptions(rest);
  const started = performance.now();
  progress(`${name}${options.quick ? ' (quick)' : ''} started`);
  await mod.run(options);
  progress(`${name} finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

// Exiting runs the 'exit' handlers of bench/lib, which kill started servers and remove temp dirs.
// `on`, not `once`: a second signal (Ctrl-C reaches both npm's child and this process) must not kill us mid-cleanup.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
