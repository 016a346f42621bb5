import { InvalidArgumentError } from '../../core/errors.js';
import type { Aggregate } from '../aggregates.js';

/** Options of {@link quantile}, {@link quantiles} and {@link median}. */
export interface QuantileOptions {
  /** α, in (0, 1): every quantile is within a relative error α of the exact one. Default 0.01. */
  relativeAccuracy?: number;
  /**
   * Most buckets per sign (positive and negative values). Beyond it the buckets of the smallest
   * magnitudes merge into one. Default 2048, which at α = 0.01 spans magnitudes over a ratio of 6·10^17.
   */
  maxBuckets?: number;
}

/** Counts of consecutive buckets: `c[j]` values fell into bucket `o + j`. */
export interface BucketStore {
  o: number;
  c: number[];
}

/**
 * The accumulator of the quantile aggregates (a DDSketch): the number of values `n`, of zeros, the
 * exact `min` and `max` (`null` while empty), and bucket counts of positive values and of the
 * magnitudes of negative ones. Bucket i holds the magnitudes in (γ^(i−1), γ^i], γ = (1 + α)/(1 − α).
 */
export interface QuantileAccumulator {
  n: number;
  zero: number;
  min: number | null;
  max: number | null;
  pos: BucketStore;
  neg: BucketStore;
}

/** Adds `k` values of bucket `i`; keeps at most `maxBuckets`, folding the lowest into the lowest kept. */
function storeAdd(s: BucketStore, i: number, k: number, maxBuckets: number): void {
  const len = s.c.length;
  if (len === 0) {
    s.o = i;
    s.c = [k];
    return;
  }
  const hi = s.o + len - 1;
  if (i >= s.o && i <= hi) {
    s.c[i - s.o]! += k;
  } else if (i < s.o) {
    // Extend downwards as far as the cap allows; what lies below goes into the lowest bucket.
    const lo = Math.max(i, hi - maxBuckets + 1);
    if (lo < s.o) {
      s.c = new Array<number>(s.o - lo).fill(0).concat(s.c);
      s.o = lo;
    }
    s.c[0]! += k;
  } else {
    const lo = Math.max(s.o, i - maxBuckets + 1);
    if (lo > s.o) {
      let folded = 0;
      const cut = Math.min(lo - s.o, len);
      for (let j = 0; j < cut; j++) folded += s.c[j]!;
      if (cut === len) s.c = [folded];
      else {
        s.c = s.c.slice(cut);
        s.c[0]! += folded;
      }
      s.o = lo;
    }
    while (s.o + s.c.length <= i) s.c.push(0);
    s.c[i - s.o]! += k;
  }
}

/**
 * The union of two stores. Equal to adding the values of both to one store, since the lowest kept
 * bucket only depends on the smallest and largest bucket seen: max(lowest, highest − maxBuckets + 1).
 */
function storeMerge(a: BucketStore, b: BucketStore, maxBuckets: number): BucketStore {
  if (a.c.length === 0) return { o: b.o, c: b.c.slice() };
  if (b.c.length === 0) return { o: a.o, c: a.c.slice() };
  const hi = Math.max(a.o + a.c.length, b.o + b.c.length) - 1;
  const lo = Math.max(Math.min(a.o, b.o), hi - maxBuckets + 1);
  const c = new Array<number>(hi - lo + 1).fill(0);
  for (const s of [a, b]) for (let j = 0; j < s.c.length; j++) c[Math.max(s.o + j, lo) - lo]! += s.c[j]!;
  return { o: lo, c };
}

/** The quantile functions of one relative accuracy: `add`, `merge`, and `at(acc, q)`. */
function sketch(options: QuantileOptions, what: string) {
  const alpha = options.relativeAccuracy ?? 0.01;
  if (!(alpha > 0 && alpha < 1)) throw new InvalidArgumentError(`${what}: relativeAccuracy must be in (0, 1), got ${alpha}`);
  const maxBuckets = options.maxBuckets ?? 2048;
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1) throw new InvalidArgumentError(`${what}: maxBuckets must be a positive integer, got ${maxBuckets}`);
  const gamma = (1 + alpha) / (1 - alpha);
  const lnGamma = Math.log(gamma);
  const index = (x: number) => Math.ceil(Math.log(x) / lnGamma);
  /** The point of bucket i within α of all of (γ^(i−1), γ^i]. */
  const value = (i: number) => (2 * Math.exp(i * lnGamma)) / (1 + gamma);

  const create = (): QuantileAccumulator => ({ n: 0, zero: 0, min: null, max: null, pos: { o: 0, c: [] }, neg: { o: 0, c: [] } });

  const add = (acc: QuantileAccumulator, x: number): QuantileAccumulator => {
    if (typeof x !== 'number' || !Number.isFinite(x)) return acc;
    if (x > 0) storeAdd(acc.pos, index(x), 1, maxBuckets);
    else if (x < 0) storeAdd(acc.neg, index(-x), 1, maxBuckets);
    else {
      x = 0; // not −0
      acc.zero++;
    }
    acc.n++;
    if (acc.min === null || x < acc.min) acc.min = x;
    if (acc.max === null || x > acc.max) acc.max = x;
    return acc;
  };

  const merge = (a: QuantileAccumulator, b: QuantileAccumulator): QuantileAccumulator => ({
    n: a.n + b.n,
    zero: a.zero + b.zero,
    min: a.min === null ? b.min : b.min === null ? a.min : Math.min(a.min, b.min),
    max: a.max === null ? b.max : b.max === null ? a.max : Math.max(a.max, b.max),
    pos: storeMerge(a.pos, b.pos, maxBuckets),
    neg: storeMerge(a.neg, b.neg, maxBuckets),
  });

  /** The value of rank ⌊q·(n − 1)⌋ among the sorted values, within α; `null` when there are none. */
  const at = (acc: QuantileAccumulator, q: number): number | null => {
    if (acc.n === 0 || acc.min === null || acc.max === null) return null;
    const rank = Math.floor(q * (acc.n - 1));
    if (rank <= 0) return acc.min;
    if (rank >= acc.n - 1) return acc.max;
    const clamp = (v: number) => Math.min(acc.max!, Math.max(acc.min!, v));
    let seen = 0;
    const { neg, pos } = acc;
    for (let j = neg.c.length - 1; j >= 0; j--) {
      seen += neg.c[j]!;
      if (seen > rank) return clamp(-value(neg.o + j));
    }
    seen += acc.zero;
    if (seen > rank) return 0;
    for (let j = 0; j < pos.c.length; j++) {
      seen += pos.c[j]!;
      if (seen > rank) return clamp(value(pos.o + j));
    }
    return acc.max;
  };

  return { create, add, merge, at };
}

function checkQuantile(q: number, what: string): void {
  if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new InvalidArgumentError(`${what}: a quantile must be in [0, 1], got ${q}`);
}

/**
 * The q-quantile of `f(event)` over the window, within a relative error α (`relativeAccuracy`,
 * default 1 %): a DDSketch (Masson, Rim and Lee, VLDB 2019).
 *
 * Use it for latency percentiles and other long-tailed values, where a relative error is what
 * matters (p99 of 2.31 s ± 1 %) and keeping every value is not an option. Accumulators merge
 * exactly (session windows, partial aggregates), and their size depends on the spread of the values,
 * not on their number.
 *
 * **Error bound.** The result r satisfies |r − x| ≤ α·|x|, where x is the exact quantile: the value of
 * rank ⌊q·(n − 1)⌋ (0-based) among the window's values sorted ascending. q = 0 and q = 1 give the exact
 * minimum and maximum. Zeros are counted apart and are exact; negative values are sketched by magnitude.
 * The guarantee holds while each sign's values span magnitudes within a ratio of γ^maxBuckets
 * (6·10^17 at the defaults, γ = (1 + α)/(1 − α)); beyond it the smallest magnitudes share one bucket.
 *
 * **Memory.** One count per bucket between the smallest and largest magnitude: log(max/min)/log(γ)
 * buckets, at most `maxBuckets` (2048) per sign. A million lognormal values (σ = 1) take 484 buckets,
 * about 2 kB of JSON, at α = 0.01.
 *
 * Values that are not finite numbers (`NaN`, `±Infinity`, non-numbers) are ignored. The result is
 * `null` when the window has no values. The relative accuracy of a running pipeline must not change:
 * checkpointed accumulators hold buckets of the old one.
 *
 * @example 99th percentile of latency per route per minute, within 1 %.
 * ```ts
 * import { definePipeline, median, quantile, tumbling } from 'rivulet';
 *
 * interface Request { route: string; ms: number; ts: number }
 * const pipeline = definePipeline({
 *   name: 'latency',
 *   setup(app) {
 *     app.stream<Request>('requests', { time: 'ts' })
 *       .keyBy((r) => r.route)
 *       .window(tumbling('1m'))
 *       .aggregate({ p50: median((r: Request) => r.ms), p99: quantile((r: Request) => r.ms, 0.99) })
 *       .to('latency');
 *   },
 * });
 * ```
 */
export function quantile<T>(f: (event: T) => number, q: number, options: QuantileOptions = {}): Aggregate<T, QuantileAccumulator, number | null> {
  checkQuantile(q, 'quantile');
  const s = sketch(options, 'quantile');
  return { create: s.create, add: (acc, e) => s.add(acc, f(e)), merge: s.merge, result: (acc) => s.at(acc, q) };
}

/**
 * Several quantiles of `f(event)` from one sketch: the result is an array with the value of each q of
 * `qs`, in order (each `null` when the window has no values). Same algorithm, error bound and memory
 * as {@link quantile}, paid once for all of them.
 *
 * @example Quartiles of order amounts per shop per hour, within 1 %.
 * ```ts
 * import { definePipeline, quantiles, tumbling } from 'rivulet';
 *
 * interface Order { shop: string; amount: number; ts: number }
 * const pipeline = definePipeline({
 *   name: 'order-quartiles',
 *   setup(app) {
 *     app.stream<Order>('orders', { time: 'ts' })
 *       .keyBy((o) => o.shop)
 *       .window(tumbling('1h'))
 *       .aggregate({ quartiles: quantiles((o: Order) => o.amount, [0.25, 0.5, 0.75]) })
 *       .to('order-quartiles');
 *   },
 * });
 * ```
 */
export function quantiles<T>(f: (event: T) => number, qs: readonly number[], options: QuantileOptions = {}): Aggregate<T, QuantileAccumulator, (number | null)[]> {
  for (const q of qs) checkQuantile(q, 'quantiles');
  const s = sketch(options, 'quantiles');
  const list = [...qs];
  return { create: s.create, add: (acc, e) => s.add(acc, f(e)), merge: s.merge, result: (acc) => list.map((q) => s.at(acc, q)) };
}

/**
 * The median of `f(event)`: {@link quantile} with q = 0.5, the value of rank ⌊(n − 1)/2⌋ (the lower
 * median for an even count), within a relative error α (default 1 %).
 *
 * @example
 * ```ts
 * import { median, type Aggregate, type QuantileAccumulator } from 'rivulet';
 *
 * const medianMs: Aggregate<{ ms: number }, QuantileAccumulator, number | null> = median((r: { ms: number }) => r.ms);
 * ```
 */
export function median<T>(f: (event: T) => number, options: QuantileOptions = {}): Aggregate<T, QuantileAccumulator, number | null> {
  return quantile(f, 0.5, options);
}
