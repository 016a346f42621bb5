import { InvalidArgumentError } from '../../core/errors.js';
import type { Aggregate } from '../aggregates.js';

/** Options of {@link topN}. */
export interface TopNOptions<T> {
  /** The score to rank by. Without it, the kept value `f(event)` itself, which must then be a number. */
  by?: (event: T) => number;
}

/** The accumulator of {@link topN}: at most n `[score, value]` pairs, best first. */
export type TopNAccumulator<V> = [score: number, value: V][];

/** The JSON form of a value, the tie-breaker between equal scores. */
const json = (v: unknown): string => JSON.stringify(v) ?? '';

/** Negative when `a` ranks before `b`: higher score first, then the smaller JSON form (code-unit order). */
function compare<V>(a: [number, V], b: [number, V]): number {
  if (a[0] !== b[0]) return b[0] - a[0];
  const ja = json(a[1]);
  const jb = json(b[1]);
  return ja < jb ? -1 : ja > jb ? 1 : 0;
}

/**
 * The `n` values with the largest scores in the window, best first: `f(event)` is the value kept (the
 * event itself, or a projection of it), `by(event)` its score (default: the value, when it is a number).
 *
 * Use it for leaderboards and "largest N" questions: the 10 biggest payments per merchant, the 5
 * slowest requests per route. Exact: the result equals sorting the window's values by score and
 * taking the first n. It keeps n values per accumulator, so memory is n × the size of a value.
 *
 * **Ties** are broken deterministically, whatever the order events arrive in and accumulators merge
 * in: among equal scores, the value with the smaller JSON form (compared by UTF-16 code units) comes
 * first. Values with the same score and the same JSON form are interchangeable.
 *
 * Kept values go into checkpoints, so they must be JSON values; project large events to the fields
 * you need. Events whose score is not a finite number are ignored.
 *
 * @example The three largest payments per merchant per hour, with their cards.
 * ```ts
 * import { definePipeline, topN, tumbling } from 'rivulet';
 *
 * interface Payment { merchant: string; card: string; amount: number; ts: number }
 * const pipeline = definePipeline({
 *   name: 'largest-payments',
 *   setup(app) {
 *     app.stream<Payment>('payments', { time: 'ts' })
 *       .keyBy((p) => p.merchant)
 *       .window(tumbling('1h'))
 *       .aggregate({
 *         largest: topN((p: Payment) => ({ card: p.card, amount: p.amount }), 3, { by: (p) => p.amount }),
 *         amounts: topN((p: Payment) => p.amount, 3),
 *       })
 *       .to('largest-payments');
 *   },
 * });
 * ```
 */
export function topN<T>(f: (event: T) => number, n: number): Aggregate<T, TopNAccumulator<number>, number[]>;
export function topN<T, V>(f: (event: T) => V, n: number, options: TopNOptions<T> & { by: (event: T) => number }): Aggregate<T, TopNAccumulator<V>, V[]>;
export function topN<T, V>(f: (event: T) => V, n: number, options: TopNOptions<T> = {}): Aggregate<T, TopNAccumulator<V>, V[]> {
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`topN: n must be a positive integer, got ${n}`);
  const by = options.by;
  return {
    create: () => [],
    add(acc, event) {
      const value = f(event);
      const score = by ? by(event) : (value as unknown as number);
      if (typeof score !== 'number' || !Number.isFinite(score)) return acc;
      const entry: [number, V] = [score, value];
      if (acc.length === n && compare(entry, acc[n - 1]!) >= 0) return acc;
      let lo = 0;
      let hi = acc.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compare(acc[mid]!, entry) <= 0) lo = mid + 1;
        else hi = mid;
      }
      acc.splice(lo, 0, entry);
      if (acc.length > n) acc.pop();
      return acc;
    },
    merge: (a, b) => a.concat(b).sort(compare).slice(0, n),
    result: (acc) => acc.map((e) => e[1]),
  };
}
