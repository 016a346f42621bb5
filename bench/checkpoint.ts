/**
 * `npm run bench -- checkpoint [throughput|recovery|keys|sessions] [--quick] [--keys N]`: what exactly-once costs and how state on disk behaves.
 *
 * - `checkpoint.throughput.<backend>`: events/s of a pipeline (windowed aggregate + keyed `process`
 *   state over 20,000 keys) committing every 1 s, against the same pipeline committing only at the end,
 *   in the same run (target ratio ≥ 0.85).
 * - `checkpoint.recovery.lmdb`: a child process builds about 1 GB of LMDB state and is killed with
 *   SIGKILL; the time from starting the engine again to its first commit of new input (target < 5 s).
 * - `checkpoint.keys.lmdb`: 20 million keys of `process` state with the child's heap capped at 512 MB
 *   (`--max-old-space-size=512`); runs to completion and emits exactly the expected records.
 * - `checkpoint.sessions.lmdb`: 5 million keys through 1 h session windows (about 3.6 million sessions
 *   open at once, each a row and a timer) with the heap capped at 512 MB; every session comes out once,
 *   with its count.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppendRecord } from '../src/core/record.js';
import { Engine } from '../src/engine/engine.js';
import type { PipelineDefinition } from '../src/engine/pipeline.js';
import { EmbeddedLog } from '../src/log/embedded/embedded-log.js';
import type { BenchOptions } from './lib/options.js';
import { emit, progress } from './lib/report.js';
import { tempDir } from './lib/temp.js';
import { benchPipeline, type BenchEvent } from './checkpoint/pipelines.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Writes `count` events (from `make`) into `topic` of the log in `dir`. */
async function prepare(dir: string, topic: string, partitions: number, count: number, make: (i: number) => AppendRecord): Promise<void> {
  const log = await EmbeddedLog.open({ dir: path.join(dir, 'log') });
  try {
    await log.createTopic(topic, { partitions, fsync: 'never' });
    const chunk = 20_000;
    for (let i = 0; i < count; i += chunk) {
      await log.append(topic, Array.from({ length: Math.min(chunk, count - i) }, (_, j) => make(i + j)));
    }
  } finally {
    await log.close();
  }
}

/** Runs `pipeline` over the log in `dir` until it has committed `total` events; returns seconds. */
async function runToEnd(dir: string, pipeline: PipelineDefinition, total: number): Promise<number> {
  const log = await EmbeddedLog.open({ dir: path.join(dir, 'log') });
  const engine = new Engine({ log, dataDir: dir, onFailure: (name, err) => { throw new Error(`pipeline ${name}: ${err.message}`); } });
  try {
    await engine.add(pipeline);
    const started = performance.now();
    engine.start();
    while ((engine.status()[0]?.eventsIn ?? 0) < total) await new Promise((r) => setTimeout(r, 5));
    return (performance.now() - started) / 1000;
  } finally {
    await engine.stop();
    await log.close();
  }
}

async function throughput(quick: boolean): Promise<void> {
  const events = quick ? 300_000 : 2_000_000;
  const keys = 20_000;
  const make = (i: number): AppendRecord => ({ key: `k${i % keys}`, timestamp: 1_000_000 + i, value: { k: `k${i % keys}`, ts: 1_000_000 + i * 2, v: i % 1000 } satisfies BenchEvent });
  for (const backend of ['memory', 'lmdb'] as const) {
    const best = { every1s: 0, none: 0 };
    for (let round = 0; round < 3; round++) {
      for (const mode of ['every1s', 'none'] as const) {
        const tmp = tempDir(`checkpoint-${backend}-${mode}`);
        await prepare(tmp.dir, 'bench-in', 4, events, make);
        const seconds = await runToEnd(tmp.dir, benchPipeline({ backend, interval: mode === 'every1s' ? '1s' : '1000h' }), events);
        tmp.remove();
        best[mode] = Math.max(best[mode], events / seconds);
        progress(`throughput ${backend} ${mode} round ${round + 1}: ${Math.round(events / seconds)} events/s`);
      }
    }
    emit({
      name: `checkpoint.throughput.${backend}`, value: best.every1s, unit: 'events/s', baseline: best.none, target: 0.85, target_of: 'ratio',
      baseline_is: 'the same pipeline committing only when it has read everything', events, keys, rounds: 3,
    });
  }
}

function child(args: string[], heapMb?: number): Promise<{ code: number | null; out: string; kill: () => void; proc: ReturnType<typeof spawn> }> {
  const proc = spawn(process.execPath, [...(heapMb ? [`--max-old-space-size=${heapMb}`] : []), '--import', 'tsx', path.join(here, 'checkpoint', 'state-child.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return done.then((code) => ({ code, out, kill: () => proc.kill('SIGKILL'), proc }));
}

async function recovery(quick: boolean): Promise<void> {
  const keys = quick ? 500_000 : 4_000_000;
  const valueBytes = 200;
  const tmp = tempDir('checkpoint-recovery');
  // The child builds the state, reports each commit, and is killed after the last of the input.
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'checkpoint', 'state-child.ts'), 'build', tmp.dir, String(keys), String(valueBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('built')) {
        proc.kill('SIGKILL');
        resolve();
      }
    });
    proc.once('exit', (code) => (code !== null ? reject(new Error(`state builder exited with ${code}`)) : resolve()));
  });
  await new Promise((r) => proc.once('exit', r));
  const stateBytes = fs.statSync(path.join(tmp.dir, 'state', 'state-bench', 'data.mdb')).size;
  progress(`recovery: ${(stateBytes / 2 ** 30).toFixed(2)} GiB of LMDB state, killed`);
  const resumed = await child(['resume', tmp.dir, String(keys), String(valueBytes)]);
  const seconds = Number(/resumed in ([\d.]+) s/.exec(resumed.out)?.[1]);
  if (!Number.isFinite(seconds)) throw new Error(`the resumed pipeline did not report:\n${resumed.out}`);
  emit({ name: 'checkpoint.recovery.lmdb', value: seconds, unit: 's', target: 5, better: 'lower', state_bytes: stateBytes, keys, note: 'engine start to the first commit of new input, after SIGKILL' });
  tmp.remove();
}

async function manyKeys(quick: boolean, keysArg: number | undefined): Promise<void> {
  const keys = keysArg ?? (quick ? 2_000_000 : 20_000_000);
  const tmp = tempDir('checkpoint-keys');
  const started = performance.now();
  const res = await child(['keys', tmp.dir, String(keys)], 512);
  const m = /keys done: (\d+) outputs, expected (\d+), correct (true|false), heap peak (\d+) MB/.exec(res.out);
  if (res.code !== 0 || !m) throw new Error(`the 20M-keys child failed (exit ${res.code}):\n${res.out}`);
  emit({
    name: 'checkpoint.keys.lmdb', value: keys, unit: 'keys', correct: m[3] === 'true', outputs: Number(m[1]), expected: Number(m[2]),
    heap_cap_mb: 512, heap_peak_mb: Number(m[4]), seconds: Math.round((performance.now() - started) / 1000),
  });
  tmp.remove();
}

async function manySessions(quick: boolean, keysArg: number | undefined): Promise<void> {
  const keys = keysArg ?? (quick ? 500_000 : 5_000_000);
  const tmp = tempDir('checkpoint-sessions');
  const started = performance.now();
  const res = await child(['sessions', tmp.dir, String(keys)], 512);
  const m = /sessions done: (\d+) outputs, expected (\d+), correct (true|false), heap peak (\d+) MB, ran ([\d.]+) s/.exec(res.out);
  if (res.code !== 0 || !m) throw new Error(`the sessions child failed (exit ${res.code}):\n${res.out}`);
  const ran = Number(m[5]);
  emit({
    name: 'checkpoint.sessions.lmdb', value: keys, unit: 'keys', correct: m[3] === 'true', outputs: Number(m[1]), expected: Number(m[2]),
    heap_cap_mb: 512, heap_peak_mb: Number(m[4]), pipeline_seconds: ran, events_per_s: Math.round((keys * 1.001) / ran),
    seconds: Math.round((performance.now() - started) / 1000),
  });
  tmp.remove();
}

export async function run(options: BenchOptions): Promise<void> {
  const keysAt = options.args.indexOf('--keys');
  const only = options.args.filter((a, i) => !a.startsWith('--') && !(keysAt >= 0 && i === keysAt + 1));
  const keys = keysAt >= 0 ? Number(options.args[keysAt + 1]) : undefined;
  if (only.length === 0 || only.includes('throughput')) await throughput(options.quick);
  if (only.length === 0 || only.includes('recovery')) await recovery(options.quick);
  if (only.length === 0 || only.includes('keys')) await manyKeys(options.quick, keys);
  if (only.length === 0 || only.includes('sessions')) await manySessions(options.quick, keys);
}
