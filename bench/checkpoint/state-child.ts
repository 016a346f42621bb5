/**
 * Child process of `bench/checkpoint.ts` (its own process, so that it can be killed or have its heap capped):
 * - `build DIR KEYS BYTES`: KEYS events with distinct keys and a BYTES payload each through the LMDB
 *   pipeline; prints `built` once all are committed, then waits to be killed;
 * - `resume DIR KEYS BYTES`: starts the engine on what `build` left, appends 1000 new events and
 *   prints `resumed in S s` at their commit;
 * - `keys DIR N`: N distinct keys (every 1000th twice) with the heap capped by the parent; prints
 *   what came out and whether it is exactly the repeated keys.
 * - `sessions DIR N`: N keys, one event each 1 ms of event time apart (every 1000th key a second event
 *   500 ms later), through 1 h session windows, with the heap capped by the parent; prints whether every
 *   key's session came out once with the right count.
 */
import path from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { PipelineDefinition } from '../../src/engine/pipeline.js';
import { sessionPipeline, statePipeline } from './pipelines.js';

const [mode, dir, nArg, bytesArg] = process.argv.slice(2) as [string, string, string, string | undefined];
const n = Number(nArg);

async function open(pipeline: PipelineDefinition = statePipeline()): Promise<{ log: EmbeddedLog; engine: Engine }> {
  const log = await EmbeddedLog.open({ dir: path.join(dir, 'log') });
  const engine = new Engine({ log, dataDir: dir, onFailure: (name, err) => { console.error(`pipeline ${name} failed:`, err); process.exit(1); } });
  await engine.add(pipeline);
  return { log, engine };
}

async function append(log: EmbeddedLog, from: number, to: number, make: (i: number) => { k: string; payload?: string }): Promise<void> {
  for (let i = from; i < to; i += 20_000) {
    const end = Math.min(to, i + 20_000);
    await log.append('state-in', Array.from({ length: end - i }, (_, j) => ({ value: make(i + j) })));
  }
}

const committed = (engine: Engine) => engine.status()[0]?.eventsIn ?? 0;
const until = async (check: () => boolean) => { while (!check()) await new Promise((r) => setTimeout(r, 5)); };

if (mode === 'build') {
  const { log, engine } = await open();
  const payload = 'x'.repeat(Number(bytesArg));
  await append(log, 0, n, (i) => ({ k: `key-${i}`, payload }));
  engine.start();
  await until(() => committed(engine) >= n);
  process.stdout.write('built\n');
  await new Promise(() => {});
} else if (mode === 'resume') {
  const started = performance.now();
  const { log, engine } = await open();
  engine.start();
  await append(log, n, n + 1000, (i) => ({ k: `key-${i}`, payload: 'y' }));
  await until(() => committed(engine) >= n + 1000);
  process.stdout.write(`resumed in ${((performance.now() - started) / 1000).toFixed(3)} s\n`);
  await engine.stop();
  await log.close();
} else if (mode === 'keys') {
  let heapPeak = 0;
  const sample = setInterval(() => { heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed); }, 100);
  const { log, engine } = await open();
  engine.start();
  const repeats = Math.floor((n - 1) / 1000) + 1;
  // Written while the pipeline runs, so that the log is not all in the page cache first.
  await append(log, 0, n, (i) => ({ k: `key-${i}` }));
  await append(log, 0, repeats, (i) => ({ k: `key-${i * 1000}` }));
  await until(() => committed(engine) >= n + repeats);
  const got = new Set<string>();
  const ends = log.endOffsets('state-repeats');
  for (let p = 0; p < ends.length; p++) {
    for (let o = 0; o < ends[p]!;) {
      const page = await log.read('state-repeats', p, o, 10_000);
      for (const r of page) got.add((r.value as { k: string }).k);
      o = page.at(-1)!.offset + 1;
    }
  }
  const outputs = ends.reduce((a, b) => a + b, 0);
  let correct = outputs === repeats && got.size === repeats;
  for (let i = 0; i < n && correct; i += 1000) correct = got.has(`key-${i}`);
  clearInterval(sample);
  process.stdout.write(`keys done: ${outputs} outputs, expected ${repeats}, correct ${correct}, heap peak ${Math.round(heapPeak / 2 ** 20)} MB\n`);
  await engine.stop();
  await log.close();
} else if (mode === 'sessions') {
  let heapPeak = 0;
  const sample = setInterval(() => { heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed); }, 100);
  const { log, engine } = await open(sessionPipeline());
  const started = performance.now();
  engine.start();
  const t0 = 1_000_000_000;
  let written = 0;
  for (let i = 0; i < n; i += 20_000) {
    const batch: { key: string; value: { k: string; ts: number } }[] = [];
    for (let j = i; j < Math.min(n, i + 20_000); j++) {
      batch.push({ key: `key-${j}`, value: { k: `key-${j}`, ts: t0 + j } });
      if (j % 1000 === 500) batch.push({ key: `key-${j - 500}`, value: { k: `key-${j - 500}`, ts: t0 + j } });
    }
    await log.append('session-in', batch);
    written += batch.length;
  }
  // Then the clock goes on: a tick every 20 ms of event time in every partition for the 1 h gap, so the
  // open sessions close as the watermark moves, a read batch (1000 ticks: 20 s) closing about 20,000 of
  // them; last, one far in the future closes the rest.
  const partitions = log.endOffsets('session-in').length;
  const tick = (ts: number) => Array.from({ length: partitions }, (_, partition) => ({ partition, key: `tick-${partition}`, value: { k: `tick-${partition}`, ts } }));
  for (let ms = 20; ms <= 3_601_000; ms += 20 * 5000) {
    const ticks = [];
    for (let j = ms; j < ms + 20 * 5000; j += 20) ticks.push(...tick(t0 + n + j));
    await log.append('session-in', ticks);
    written += ticks.length;
  }
  await log.append('session-in', tick(t0 + n + 5 * 3_600_000));
  written += partitions;
  await until(() => committed(engine) >= written);
  const ran = (performance.now() - started) / 1000;
  await engine.stop();
  let outputs = 0;
  let correct = true;
  const ends = log.endOffsets('session-out');
  for (let p = 0; p < ends.length; p++) {
    for (let o = 0; o < ends[p]!;) {
      const page = await log.read('session-out', p, o, 10_000);
      for (const r of page) {
        const { key, n: events } = r.value as { key: string; n: number };
        if (key.startsWith('tick-')) continue;
        const i = Number(key.slice(4));
        outputs++;
        if (events !== (i % 1000 === 0 && i + 500 < n ? 2 : 1)) correct = false;
      }
      o = page.at(-1)!.offset + 1;
    }
  }
  correct &&= outputs === n;
  clearInterval(sample);
  process.stdout.write(`sessions done: ${outputs} outputs, expected ${n}, correct ${correct}, heap peak ${Math.round(heapPeak / 2 ** 20)} MB, ran ${ran.toFixed(1)} s\n`);
  await log.close();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
