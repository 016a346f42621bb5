/**
 * How benchmarks report: one JSON object per line on stdout for each figure, and human-readable
 * progress on stderr, so `npm run bench -- x > results.jsonl` keeps only the figures.
 */

/** One figure of a benchmark run, as printed on one line of stdout. */
export interface Metric {
  /** Dotted name, stable across runs (e.g. `log.append.100B.b1000.c1.fsync-10ms.records`). */
  name: string;
  value: number;
  unit: string;
  /** The same quantity for a reference system measured in the same run. */
  baseline?: number;
  /** `value / baseline`, set by {@link emit} when a baseline is given. */
  ratio?: number;
  target?: number;
  /** Whether `target` is compared with `value` or with `ratio`. */
  target_of?: 'value' | 'ratio';
  /** Set to `'lower'` where a smaller value is better (latency, memory); higher is better otherwise. */
  better?: 'lower';
  /** Anything else that explains the figure (concurrency, durability of the peer, cache state). */
  [extra: string]: unknown;
}

function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

/** Prints a metric as one JSON line on stdout, adding `ratio` when there is a baseline; numbers keep about 4 significant digits. */
export function emit(metric: Metric): void {
  const out: Metric = { ...metric };
  if (out.baseline !== undefined) out.ratio = out.baseline > 0 ? out.value / out.baseline : Infinity;
  if (out.target !== undefined && out.target_of === undefined) out.target_of = 'value';
  for (const k of ['value', 'baseline', 'ratio'] as const) if (typeof out[k] === 'number') out[k] = round(out[k]);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Prints a line of human-readable progress on stderr. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
