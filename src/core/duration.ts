import { InvalidArgumentError } from './errors.js';

/**
 * A span of time: milliseconds as a number, or a string such as `'500ms'`, `'5s'`, `'1m'`, `'2h'`, `'1d'`.
 * Used wherever Rivulet takes a window size, a delay or an interval.
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Converts a {@link Duration} to milliseconds, with an error that names the bad value.
 *
 * @example
 * ```ts
 * durationMs('1m'); // 60000
 * ```
 */
export function durationMs(d: Duration, what = 'duration'): number {
  if (typeof d === 'number') {
    if (!Number.isFinite(d) || d < 0) throw new InvalidArgumentError(`${what}: expected a non-negative number of milliseconds, got ${d}`);
    return d;
  }
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(String(d).trim());
  if (!m) throw new InvalidArgumentError(`${what}: expected a duration such as '500ms', '5s', '1m', '2h' or '1d', got '${String(d)}'`);
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
}

/** Milliseconds as the largest whole unit that fits (`7d`, `90s`, `250ms`): the inverse of {@link durationMs}. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
