import { InvalidArgumentError } from '../../core/errors.js';
import type { Aggregate } from '../aggregates.js';
import { murmur3x86_128 } from './murmur3.js';

/** Options of {@link distinctCount}. */
export interface DistinctCountOptions {
  /**
   * Precision p, 4 to 18: the sketch has m = 2^p registers and a relative standard error of
   * 1.04/√m. Default 12 (4096 registers, 1.63 %).
   */
  precision?: number;
}

/**
 * The accumulator of {@link distinctCount}: while small, the exact set of the values' 52-bit hashes
 * (sorted); beyond m/16 of them, the m HyperLogLog registers, one base64 character per register
 * (values 0 to 53 − p), in strings of 128 characters.
 */
export type DistinctCountAccumulator = { hashes: number[] } | { registers: string[] };

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;
const CHUNK = 128;
const TWO_20 = 2 ** 20;
/** Bits of the hash: 32 of murmur3's h1 and the top 20 of h2, so that a hash is a safe integer. */
const HASH_BITS = 52;

/** The value's identity: a string as it is, anything else by its JSON form (so that 1 and '1' differ). */
function identity(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return `\u0001${v}n`;
  return `\u0001${JSON.stringify(v)}`;
}

/** The 52-bit hash of a value, as a non-negative safe integer. */
function hash52(v: unknown): number {
  const h = murmur3x86_128(identity(v));
  return h[0]! * TWO_20 + (h[1]! >>> 12);
}

/**
 * Register index (top p bits of the hash) and rank (1 + leading zeros of the remaining 52 − p bits,
 * at most 53 − p) of a 52-bit hash.
 */
function indexAndRank(hash: number, p: number): [number, number] {
  const hi = Math.floor(hash / TWO_20);
  const lo = hash - hi * TWO_20;
  const index = hi >>> (32 - p);
  const rest = (hi << p) >>> 0;
  const rank = rest !== 0 ? Math.clz32(rest) + 1 : 32 - p + (lo === 0 ? 20 : Math.clz32(lo) - 12) + 1;
  return [index, rank];
}

function decode(chunks: string[], m: number): Uint8Array {
  const regs = new Uint8Array(m);
  let j = 0;
  for (const chunk of chunks) for (let i = 0; i < chunk.length; i++) regs[j++] = B64_VALUE[chunk.charCodeAt(i)]!;
  return regs;
}

function encode(regs: Uint8Array): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < regs.length; start += CHUNK) {
    let s = '';
    for (let i = start; i < Math.min(start + CHUNK, regs.length); i++) s += B64[regs[i]!];
    chunks.push(s);
  }
  return chunks;
}

/** σ and τ of Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const prev = z;
    z += x * y;
    y += y;
    if (z === prev) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const prev = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === prev) return z / 3;
  }
}

/** Ertl's improved raw estimate from the registers: unbiased over the whole range, no empirical tables. */
function estimate(regs: Uint8Array, p: number): number {
  const m = regs.length;
  const q = HASH_BITS - p;
  const hist = new Array<number>(q + 2).fill(0);
  for (let i = 0; i < m; i++) hist[regs[i]!]!++;
  let z = m * tau(1 - hist[q + 1]! / m);
  for (let k = q; k >= 1; k--) z = 0.5 * (z + hist[k]!);
  z += m * sigma(hist[0]! / m);
  return (m * m) / (2 * Math.LN2 * z);
}

/** Union of two sorted arrays of hashes. */
function union(a: number[], b: number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== x) out.push(x);
  }
  return out;
}

/**
 * Approximate number of distinct values of `f(event)` in the window: a HyperLogLog sketch with
 * m = 2^`precision` registers (default 4096) over a 52-bit MurmurHash3 of each value.
 *
 * Use it where counting distinct values exactly would keep every value: unique visitors, distinct
 * cards per merchant, cardinalities of millions in a few kilobytes. Accumulators merge without loss,
 * so session windows and partial aggregates give the same estimate as one pass.
 *
 * **Error bound.** Exact (up to 52-bit hash collisions) while the window holds at most m/16 distinct
 * values (256 at the default precision). Beyond that, the relative standard error is 1.04/√m: 1.63 %
 * at p = 12 (about 99.9 % of estimates within 3.3 standard errors, 5.4 %), 0.81 % at p = 14. The
 * estimate uses Ertl's improved estimator, accurate from small to very large counts without bias tables.
 *
 * **Memory.** At most m/16 hashes while exact, then m characters of registers: about 4.2 kB of JSON
 * per accumulator at p = 12, whatever the count.
 *
 * Values are identified by their string form: a string as it is, any other value by its JSON form
 * (`1` and `'1'` are different values; objects with the same fields in another order are too).
 * `null` and `undefined` are not counted, as in SQL's `COUNT(DISTINCT …)`. The precision of a running
 * pipeline must not change: checkpointed accumulators hold registers of the old size.
 *
 * @example Distinct cards per merchant per minute, within about 1.6 %.
 * ```ts
 * import { definePipeline, distinctCount, tumbling } from 'rivulet';
 *
 * interface Payment { merchant: string; card: string; amount: number; ts: number }
 * const pipeline = definePipeline({
 *   name: 'merchant-cards',
 *   setup(app) {
 *     app.stream<Payment>('payments', { time: 'ts' })
 *       .keyBy((p) => p.merchant)
 *       .window(tumbling('1m'))
 *       .aggregate({ cards: distinctCount((p: Payment) => p.card) })
 *       .to('merchant-cards');
 *   },
 * });
 * ```
 */
export function distinctCount<T>(f: (event: T) => unknown, options: DistinctCountOptions = {}): Aggregate<T, DistinctCountAccumulator, number> {
  const p = options.precision ?? 12;
  if (!Number.isInteger(p) || p < 4 || p > 18) throw new InvalidArgumentError(`distinctCount: precision must be an integer from 4 to 18, got ${p}`);
  const m = 2 ** p;
  /** Most hashes kept exactly: beyond it, registers take less room than the hashes. */
  const exactLimit = m / 16;

  const registersOf = (acc: DistinctCountAccumulator): Uint8Array => {
    if ('registers' in acc) {
      if (acc.registers.length !== Math.ceil(m / CHUNK) || acc.registers[0]!.length !== Math.min(m, CHUNK)) {
        throw new InvalidArgumentError(`distinctCount: an accumulator of another precision cannot be used with precision ${p}`);
      }
      return decode(acc.registers, m);
    }
    const regs = new Uint8Array(m);
    for (const h of acc.hashes) {
      const [index, rank] = indexAndRank(h, p);
      if (rank > regs[index]!) regs[index] = rank;
    }
    return regs;
  };

  return {
    create: () => ({ hashes: [] }),
    add(acc, event) {
      const v = f(event);
      if (v === null || v === undefined) return acc;
      const h = hash52(v);
      if ('hashes' in acc) {
        const hs = acc.hashes;
        let lo = 0;
        let hi = hs.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (hs[mid]! < h) lo = mid + 1;
          else hi = mid;
        }
        if (hs[lo] === h) return acc;
        hs.splice(lo, 0, h);
        return hs.length > exactLimit ? { registers: encode(registersOf(acc)) } : acc;
      }
      const [index, rank] = indexAndRank(h, p);
      const c = Math.floor(index / CHUNK);
      const chunk = acc.registers[c]!;
      const at = index - c * CHUNK;
      if (rank > B64_VALUE[chunk.charCodeAt(at)]!) acc.registers[c] = chunk.slice(0, at) + B64[rank] + chunk.slice(at + 1);
      return acc;
    },
    merge(a, b) {
      if ('hashes' in a && 'hashes' in b) {
        const hashes = union(a.hashes, b.hashes);
        return hashes.length > exactLimit ? { registers: encode(registersOf({ hashes })) } : { hashes };
      }
      const ra = registersOf(a);
      const rb = registersOf(b);
      for (let i = 0; i < m; i++) if (rb[i]! > ra[i]!) ra[i] = rb[i]!;
      return { registers: encode(ra) };
    },
    result: (acc) => ('hashes' in acc ? acc.hashes.length : Math.round(estimate(registersOf(acc), p))),
  };
}
