import { durationMs, type Duration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';

/** Fixed-size, non-overlapping windows `[start, start + size)` aligned to the epoch. */
export interface TumblingWindow {
  kind: 'tumbling';
  size: number;
}

/** Fixed-size windows that start every `slide`; an event belongs to `size / slide` of them. */
export interface HoppingWindow {
  kind: 'hopping';
  size: number;
  slide: number;
}

/** How a keyed stream is cut into event-time windows. */
export type WindowSpec = TumblingWindow | HoppingWindow;

/**
 * Tumbling windows: each event belongs to exactly one window of `size`.
 *
 * @example
 * ```ts
 * payments.keyBy((p) => p.card).window(tumbling('1m')).aggregate({ n: count() });
 * ```
 */
export function tumbling(size: Duration): TumblingWindow {
  const ms = durationMs(size, 'tumbling window size');
  if (ms <= 0) throw new InvalidArgumentError('tumbling window size must be greater than 0');
  return { kind: 'tumbling', size: ms };
}

/**
 * Hopping (sliding) windows of `size` that start every `slide`: use them for moving totals such as
 * "the last 5 minutes, updated every minute".
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.sensor).window(hopping('5m', '1m')).aggregate({ mean: avg((r) => r.temp) });
 * ```
 */
export function hopping(size: Duration, slide: Duration): HoppingWindow {
  const s = durationMs(size, 'hopping window size');
  const h = durationMs(slide, 'hopping window slide');
  if (s <= 0 || h <= 0) throw new InvalidArgumentError('hopping window size and slide must be greater than 0');
  if (s % h !== 0) throw new InvalidArgumentError(`hopping window size (${s} ms) must be a multiple of its slide (${h} ms)`);
  return { kind: 'hopping', size: s, slide: h };
}

/** The start times of the windows that contain event time `ts`, earliest first. */
export function windowStarts(spec: WindowSpec, ts: number): number[] {
  if (spec.kind === 'tumbling') return [ts - mod(ts, spec.size)];
  const last = ts - mod(ts, spec.slide);
  const starts: number[] = [];
  for (let s = last - spec.size + spec.slide; s <= last; s += spec.slide) starts.push(s);
  return starts;
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
