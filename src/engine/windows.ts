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

/** One window per event, ending at it: `[t − size + 1, t + 1)` holds the key's events of the last `size`. */
export interface SlidingWindow {
  kind: 'sliding';
  size: number;
}

/** Per key, events whose times are at most `gap` apart form one session `[first, last + gap)`. */
export interface SessionWindow {
  kind: 'session';
  gap: number;
}

/** Every `slide` events of a key, the last `size` of them, in the order they were read. */
export interface CountWindow {
  kind: 'count';
  size: number;
  slide: number;
}

/** How a keyed stream is cut into windows. */
export type WindowSpec = TumblingWindow | HoppingWindow | SlidingWindow | SessionWindow | CountWindow;

/** When a window's results are emitted. */
export type EmitMode =
  /** Once, when the watermark passes the window's end (and again for each change within `allowedLateness`). */
  | 'final'
  /** After every batch that changed the window: a changelog of upserts, the last one being the final result. */
  | 'update';

/** Options of {@link KeyedStream.window}. */
export interface WindowOptions {
  /**
   * How long after a window fired it still accepts events. Each such event updates the window and emits a
   * replacement result (same key and `start`). Later events are late. Default 0.
   */
  allowedLateness?: Duration;
  /** A topic that receives late events as they were (keyed by the group key). Without it they are only counted. */
  lateOutput?: string;
  /** Default `'final'`. */
  emit?: EmitMode;
}

/** {@link WindowOptions} with defaults applied, in milliseconds. */
export interface WindowOptionsResolved {
  allowedLateness: number;
  lateOutput: string | undefined;
  emit: EmitMode;
}

/** Applies the defaults of {@link WindowOptions} and checks them against the window kind. */
export function resolveWindowOptions(spec: WindowSpec, options: WindowOptions = {}): WindowOptionsResolved {
  const allowedLateness = durationMs(options.allowedLateness ?? 0, 'allowedLateness');
  if (allowedLateness < 0) throw new InvalidArgumentError('allowedLateness must not be negative');
  const emit = options.emit ?? 'final';
  if (emit !== 'final' && emit !== 'update') throw new InvalidArgumentError(`emit must be 'final' or 'update', got ${JSON.stringify(emit)}`);
  if (spec.kind === 'count' && (allowedLateness > 0 || options.lateOutput !== undefined || emit !== 'final')) {
    throw new InvalidArgumentError('count windows follow the order events are read in, not event time: allowedLateness, lateOutput and emit do not apply');
  }
  return { allowedLateness, lateOutput: options.lateOutput, emit };
}

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

/**
 * Sliding windows: for every event at time t, a window over the key's events in `(t − size, t]`, fired
 * when the watermark reaches t. Use them for "more than N in any 10 minutes" rules: the busiest span
 * of any length-`size` interval always ends at an event.
 *
 * @example
 * ```ts
 * payments.keyBy((p) => p.card).window(sliding('10m')).aggregate({ n: count() }).filter((w) => w.n > 5);
 * ```
 */
export function sliding(size: Duration): SlidingWindow {
  const ms = durationMs(size, 'sliding window size');
  if (ms <= 0) throw new InvalidArgumentError('sliding window size must be greater than 0');
  return { kind: 'sliding', size: ms };
}

/**
 * Session windows: a key's events at most `gap` apart belong to one session, which closes `gap` after
 * its last event. Sessions merge when an event bridges them; use them for visits, trips, machine runs.
 *
 * @example
 * ```ts
 * clicks.keyBy((c) => c.user).window(session('30m')).aggregate({ pages: count() });
 * ```
 */
export function session(gap: Duration): SessionWindow {
  const ms = durationMs(gap, 'session gap');
  if (ms <= 0) throw new InvalidArgumentError('session gap must be greater than 0');
  return { kind: 'session', gap: ms };
}

/**
 * Count windows: every `slide` events of a key (default `size`), a result over its last `size` events,
 * in the order they were read from the log. Use them for "average of the last 10 readings".
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.sensor).window(countWindow(10)).aggregate({ mean: avg((r) => r.temp) });
 * ```
 */
export function countWindow(size: number, slide: number = size): CountWindow {
  if (!Number.isInteger(size) || size <= 0) throw new InvalidArgumentError(`count window size must be a positive integer, got ${size}`);
  if (!Number.isInteger(slide) || slide <= 0 || slide > size) throw new InvalidArgumentError(`count window slide must be an integer in 1..${size}, got ${slide}`);
  return { kind: 'count', size, slide };
}

/** The start times of the fixed (tumbling or hopping) windows that contain event time `ts`, earliest first. */
export function windowStarts(spec: TumblingWindow | HoppingWindow, ts: number): number[] {
  const slide = windowSlide(spec);
  const last = lastWindowStart(ts, slide);
  const starts: number[] = [];
  for (let s = last - spec.size + slide; s <= last; s += slide) starts.push(s);
  return starts;
}

/** How far apart the windows of a spec start: the slide, or the size of tumbling windows. */
export function windowSlide(spec: TumblingWindow | HoppingWindow): number {
  return spec.kind === 'tumbling' ? spec.size : spec.slide;
}

/**
 * The start of the last window containing `ts`; the windows containing it start from there back to
 * `last − size + slide` in steps of `slide` (a hopping size is a multiple of its slide). For loops on
 * the per-event path that must not allocate {@link windowStarts}' array.
 */
export function lastWindowStart(ts: number, slide: number): number {
  return ts - mod(ts, slide);
}

/**
 * {@link lastWindowStart} for a stream of event times that mostly fall into the same slide as the one
 * before: two comparisons instead of two floating-point remainders (epoch milliseconds exceed 2^31, so
 * `%` is a library call). One per operator, on its per-event path.
 */
export class SlideAligner {
  private start = NaN;
  constructor(readonly slide: number) {}

  /** The start of the slide containing `ts`. */
  startOf(ts: number): number {
    const s = this.start;
    if (ts >= s && ts < s + this.slide) return s;
    return (this.start = lastWindowStart(ts, this.slide));
  }
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
