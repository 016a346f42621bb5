/**
 * An aggregate function over the events of a window: `create` an accumulator, `add` events to it,
 * `merge` two accumulators, and read the `result`. Accumulators must be plain JSON values, because
 * they are written into checkpoints.
 *
 * `add` may update the accumulator in place and return it (the engine keeps the returned one, and each
 * accumulator belongs to one window and key); `merge` must leave both inputs as they were, and
 * `result` must not return a part of the accumulator that a later `add` changes.
 *
 * @example A user-defined aggregate: the largest amount and the card that spent it.
 * ```ts
 * const biggest: Aggregate<Payment, [number, string] | null, string | null> = {
 *   create: () => null,
 *   add: (acc, p) => (acc === null || p.amount > acc[0] ? [p.amount, p.card] : acc),
 *   merge: (a, b) => (a === null ? b : b === null ? a : a[0] >= b[0] ? a : b),
 *   result: (acc) => (acc === null ? null : acc[1]),
 * };
 * ```
 */
export interface Aggregate<T, Acc, R> {
  create(): Acc;
  add(acc: Acc, event: T): Acc;
  merge(a: Acc, b: Acc): Acc;
  result(acc: Acc): R;
}

export { distinctCount } from './aggregates/hyperloglog.js';
export type { DistinctCountOptions, DistinctCountAccumulator } from './aggregates/hyperloglog.js';
export { quantile, quantiles, median } from './aggregates/ddsketch.js';
export type { QuantileOptions, QuantileAccumulator, BucketStore } from './aggregates/ddsketch.js';
export { topN } from './aggregates/top-n.js';
export type { TopNOptions, TopNAccumulator } from './aggregates/top-n.js';

/** The results of a record of aggregates, field by field. */
export type AggregateResults<A> = { [F in keyof A]: A[F] extends Aggregate<never, unknown, infer R> ? R : never };

/** Number of events in the window. */
export function count(): Aggregate<unknown, number, number> {
  return { create: () => 0, add: (n) => n + 1, merge: (a, b) => a + b, result: (n) => n };
}

/** Sum of `f(event)` over the window. */
export function sum<T>(f: (event: T) => number): Aggregate<T, number, number> {
  return { create: () => 0, add: (s, e) => s + f(e), merge: (a, b) => a + b, result: (s) => s };
}

/** Smallest `f(event)` in the window, or `null` for an empty one. */
export function min<T>(f: (event: T) => number): Aggregate<T, number | null, number | null> {
  const pick = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return { create: () => null, add: (m, e) => pick(m, f(e)), merge: pick, result: (m) => m };
}

/** Largest `f(event)` in the window, or `null` for an empty one. */
export function max<T>(f: (event: T) => number): Aggregate<T, number | null, number | null> {
  const pick = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  return { create: () => null, add: (m, e) => pick(m, f(e)), merge: pick, result: (m) => m };
}

/** Mean of `f(event)` over the window, or `null` for an empty one. */
export function avg<T>(f: (event: T) => number): Aggregate<T, [number, number], number | null> {
  return {
    create: () => [0, 0],
    add: (acc, e) => [acc[0] + f(e), acc[1] + 1],
    merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
    result: (acc) => (acc[1] === 0 ? null : acc[0] / acc[1]),
  };
}
