import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { count, distinctCount, median, quantile, quantiles, topN, type Aggregate } from '../../src/engine/aggregates.js';
import { runBounded } from '../../src/engine/bounded.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { session, tumbling } from '../../src/engine/windows.js';
import { prng } from '../helpers/prng.js';

/**
 * The sketch aggregates against brute force: seeded random data, every accumulator also taken through
 * JSON (as a checkpoint does) and through merges of random splits in random orders.
 */


function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function shuffle<X>(xs: X[], rand: () => number): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function fold<T, A, R>(agg: Aggregate<T, A, R>, events: readonly T[]): A {
  let acc = agg.create();
  for (const e of events) acc = agg.add(acc, e);
  return acc;
}

const viaJson = <A>(acc: A): A => JSON.parse(JSON.stringify(acc)) as A;

/**
 * Cuts the events into 1 to 5 random parts, folds each (taking some through JSON), and merges the
 * parts in a random order and tree shape.
 */
function foldMerged<T, A, R>(agg: Aggregate<T, A, R>, events: readonly T[], rand: () => number): A {
  const parts = 1 + Math.floor(rand() * 5);
  const cuts = [0, ...Array.from({ length: parts - 1 }, () => Math.floor(rand() * (events.length + 1))).sort((a, b) => a - b), events.length];
  let accs = cuts.slice(1).map((end, i) => {
    const acc = fold(agg, events.slice(cuts[i], end));
    return rand() < 0.5 ? viaJson(acc) : acc;
  });
  shuffle(accs, rand);
  while (accs.length > 1) {
    const i = Math.floor(rand() * (accs.length - 1));
    const before = JSON.stringify([accs[i], accs[i + 1]]);
    const merged = agg.merge(accs[i]!, accs[i + 1]!);
    assert.equal(JSON.stringify([accs[i], accs[i + 1]]), before, 'merge leaves its inputs as they were');
    accs = [...accs.slice(0, i), merged, ...accs.slice(i + 2)];
  }
  return accs[0]!;
}

describe('distinctCount (HyperLogLog)', () => {
  const sizes = [0, 1, 10, 100, 255, 256, 257, 300, 1000, 4000, 10_000, 100_000];

  for (const precision of [12, 4, 8, 14]) {
    test(`estimates within 4 standard errors, merges to the same registers, survives JSON (p = ${precision})`, () => {
      const m = 2 ** precision;
      const se = 1.04 / Math.sqrt(m);
      const agg = distinctCount((v: unknown) => v, { precision });
      const rand = prng(precision);
      for (const n of precision === 12 ? sizes : sizes.filter((s) => s <= 10_000)) {
        // n distinct values of mixed types, each one to three times, in random order.
        const distinct = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? `user-${precision}-${i}` : { id: i }));
        const events = shuffle(distinct.flatMap((v) => (rand() < 0.3 ? [v, v] : rand() < 0.1 ? [v, v, v] : [v])), rand);
        const acc = fold(agg, events);
        const estimate = agg.result(acc);
        if (n <= m / 16) assert.equal(estimate, n, `exact below m/16 (n = ${n})`);
        else assert.ok(Math.abs(estimate - n) <= 4 * se * n, `n = ${n}: estimate ${estimate} off by more than 4 standard errors`);
        const json = viaJson(acc);
        assert.equal(agg.result(json), estimate, 'the JSON round trip gives the same result');
        assert.deepEqual(json, acc);
        const merged = foldMerged(agg, events, rand);
        assert.deepEqual(merged, acc, `n = ${n}: merging parts gives the registers of one pass`);
        assert.equal(agg.result(merged), estimate);
      }
    });
  }

  test('the estimator is unbiased and its spread is 1.04/√m over many trials', () => {
    const precision = 10;
    const se = 1.04 / Math.sqrt(2 ** precision);
    const agg = distinctCount((v: string) => v, { precision });
    for (const n of [200, 1000, 3000, 20_000]) {
      const errors: number[] = [];
      for (let trial = 0; trial < 150; trial++) {
        let acc = agg.create();
        for (let i = 0; i < n; i++) acc = agg.add(acc, `${trial}/${i}`);
        errors.push(agg.result(acc) / n - 1);
      }
      const mean = errors.reduce((a, e) => a + e, 0) / errors.length;
      const rms = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length);
      assert.ok(Math.abs(mean) < se / 2, `n = ${n}: mean relative error ${mean}`);
      assert.ok(rms < se * 1.3, `n = ${n}: RMS relative error ${rms} vs standard error ${se}`);
    }
  });

  test('identity: strings as they are, other values by their JSON form; null and undefined not counted', () => {
    const agg = distinctCount((v: unknown) => v);
    assert.equal(agg.result(fold(agg, [1, '1', 1, true, 'true', null, undefined, { a: 1 }, { a: 1 }, [1], 10n])), 7);
    assert.throws(() => distinctCount((v: unknown) => v, { precision: 3 }), /precision/);
    assert.throws(() => distinctCount((v: unknown) => v, { precision: 19 }), /precision/);
    const dense = fold(distinctCount((v: number) => v, { precision: 8 }), Array.from({ length: 100 }, (_, i) => i));
    assert.throws(() => distinctCount((v: number) => v).result(dense), /another precision/);
  });

  test('a full accumulator at p = 12 is a few kilobytes of JSON', () => {
    const agg = distinctCount((v: number) => v);
    const acc = fold(agg, Array.from({ length: 1_000_000 }, (_, i) => i));
    const size = JSON.stringify(acc).length;
    assert.ok(size <= 4300, `full HLL: ${size} bytes`);
    const exact = fold(agg, Array.from({ length: 256 }, (_, i) => i));
    assert.ok(JSON.stringify(exact).length <= 4400, 'the exact form is not larger than the registers');
  });
});

describe('quantile (DDSketch)', () => {
  const qs = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1];

  /** The exact q-quantile: the value of rank ⌊q·(n − 1)⌋ among the values sorted ascending. */
  const exactQuantile = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;

  const distributions: Record<string, (rand: () => number) => number> = {
    uniform: (r) => r() * 1000,
    lognormal: (r) => Math.exp(normal(r)),
    'normal with negatives and zeros': (r) => (r() < 0.1 ? 0 : 100 * normal(r)),
    // Within the 6·10^17 ratio that 2048 buckets span at α = 0.01.
    'wide magnitudes, both signs': (r) => (r() < 0.5 ? -1 : 1) * 10 ** (16 * r() - 8),
    'few distinct values': (r) => [-3, 0, 0.5, 7, 7, 7, 1e6][Math.floor(r() * 7)]!,
    integers: (r) => Math.floor(r() * 50) - 10,
  };

  // At α = 0.001, 2048 buckets only span magnitudes within a ratio of 60: give it room.
  for (const [alpha, maxBuckets] of [[0.01, 2048], [0.05, 2048], [0.001, 50_000]] as const) {
    test(`every quantile is within α = ${alpha} of the exact one; merges equal one pass; JSON round trip`, () => {
      const rand = prng(Math.round(alpha * 1e4));
      const agg = quantiles((x: number) => x, qs, { relativeAccuracy: alpha, maxBuckets });
      for (const [name, draw] of Object.entries(distributions)) {
        for (const n of [1, 2, 3, 10, 1000, 20_000]) {
          const values = Array.from({ length: n }, () => draw(rand));
          const sorted = [...values].sort((a, b) => a - b);
          const acc = fold(agg, values);
          const got = agg.result(acc);
          qs.forEach((q, i) => {
            const exact = exactQuantile(sorted, q);
            const r = got[i]!;
            assert.ok(r !== null && Math.abs(r - exact) <= alpha * Math.abs(exact) * (1 + 1e-9),
              `${name}, n = ${n}, q = ${q}: ${r} vs exact ${exact}`);
          });
          assert.equal(got[0], sorted[0], 'q = 0 is the minimum');
          assert.equal(got[qs.length - 1], sorted[n - 1], 'q = 1 is the maximum');
          assert.deepEqual(agg.result(viaJson(acc)), got);
          assert.deepEqual(foldMerged(agg, values, rand), acc, `${name}, n = ${n}: merging parts gives the sketch of one pass`);
        }
      }
    });
  }

  test('with few buckets the lowest magnitudes collapse; merges still equal one pass and the higher quantiles keep the bound', () => {
    const rand = prng(99);
    const alpha = 0.01;
    const maxBuckets = 64;
    const agg = quantile((x: number) => x, 0.5, { relativeAccuracy: alpha, maxBuckets });
    const many = quantiles((x: number) => x, qs, { relativeAccuracy: alpha, maxBuckets });
    const gamma = (1 + alpha) / (1 - alpha);
    for (let round = 0; round < 20; round++) {
      const values = Array.from({ length: 2000 }, () => (rand() < 0.2 ? -1 : 1) * Math.exp(3 * normal(rand)));
      const acc = fold(agg, values);
      assert.ok(acc.pos.c.length <= maxBuckets && acc.neg.c.length <= maxBuckets);
      assert.deepEqual(foldMerged(agg, values, rand), acc);
      const sorted = [...values].sort((a, b) => a - b);
      const got = many.result(fold(many, values));
      // Positive values above the lowest kept bucket are in their own buckets.
      const keptFrom = gamma ** acc.pos.o;
      qs.forEach((q, i) => {
        const exact = exactQuantile(sorted, q);
        if (exact > keptFrom) assert.ok(Math.abs(got[i]! - exact) <= alpha * exact * (1 + 1e-9), `q = ${q}: ${got[i]} vs ${exact}`);
      });
    }
  });

  test('empty windows, ignored values, median, argument checks', () => {
    const q = quantile((x: number) => x, 0.5);
    assert.equal(q.result(q.create()), null);
    assert.equal(q.result(fold(q, [NaN, Infinity, -Infinity])), null);
    assert.equal(q.result(fold(q, [NaN, 5, Infinity])), 5);
    assert.equal(q.result(fold(q, [-0, 0])), 0);
    assert.ok(!Object.is(q.result(fold(q, [-0])), -0));
    const qq = quantiles((x: number) => x, [0.5, 1]);
    assert.deepEqual(qq.result(qq.create()), [null, null]);
    const m = median((x: number) => x);
    const values = Array.from({ length: 101 }, (_, i) => i + 1);
    assert.equal(m.result(fold(m, values)), q.result(fold(q, values)));
    assert.ok(Math.abs(m.result(fold(m, values))! - 51) <= 0.51);
    assert.throws(() => quantile((x: number) => x, 1.5), /quantile must be in \[0, 1\]/);
    assert.throws(() => quantiles((x: number) => x, [0.5, NaN]), /quantile must be in \[0, 1\]/);
    assert.throws(() => quantile((x: number) => x, 0.5, { relativeAccuracy: 0 }), /relativeAccuracy/);
    assert.throws(() => quantile((x: number) => x, 0.5, { maxBuckets: 0 }), /maxBuckets/);
  });

  test('a million lognormal values take a couple of kilobytes', () => {
    const rand = prng(1);
    const agg = quantile((x: number) => x, 0.99);
    let acc = agg.create();
    for (let i = 0; i < 1_000_000; i++) acc = agg.add(acc, Math.exp(normal(rand)));
    const size = JSON.stringify(acc).length;
    assert.ok(size < 2500, `DDSketch of 1M lognormal values: ${size} bytes`);
  });
});

describe('topN', () => {
  interface Item { id: number; score: number; tag: string }
  /** The reference: sort by score descending, then by JSON form ascending, and take n. */
  const reference = <V>(entries: [number, V][], n: number) => [...entries]
    .sort((a, b) => b[0] - a[0] || (JSON.stringify(a[1]) < JSON.stringify(b[1]) ? -1 : JSON.stringify(a[1]) > JSON.stringify(b[1]) ? 1 : 0))
    .slice(0, n).map((e) => e[1]);

  test('equals sort-and-take, whatever the insertion order and merge order, through JSON', () => {
    const rand = prng(7);
    for (let round = 0; round < 200; round++) {
      const count = Math.floor(rand() * 300);
      // Few distinct scores: many ties.
      const items: Item[] = Array.from({ length: count }, (_, id) => ({ id, score: Math.floor(rand() * 20) - 5, tag: rand() < 0.5 ? 'a' : 'b' }));
      for (const n of [1, 3, 10, 500]) {
        const projected = topN((e: Item) => ({ id: e.id, tag: e.tag }), n, { by: (e) => e.score });
        const whole = topN((e: Item) => e, n, { by: (e) => e.score });
        const expected = reference(items.map((e) => [e.score, { id: e.id, tag: e.tag }]), n);
        const acc = fold(projected, items);
        assert.deepEqual(projected.result(acc), expected);
        assert.deepEqual(projected.result(fold(projected, shuffle([...items], rand))), expected, 'insertion order does not matter');
        assert.deepEqual(projected.result(viaJson(acc)), expected);
        assert.deepEqual(projected.result(foldMerged(projected, shuffle([...items], rand), rand)), expected, 'merge order does not matter');
        assert.deepEqual(whole.result(foldMerged(whole, items, rand)), reference(items.map((e) => [e.score, e]), n));
      }
    }
  });

  test('scores default to the values; non-finite scores are ignored; results are copies', () => {
    const agg = topN((x: number) => x, 3);
    const acc = fold(agg, [5, NaN, 1, Infinity, 9, -Infinity, 5, 7]);
    const r = agg.result(acc);
    assert.deepEqual(r, [9, 7, 5]);
    agg.add(acc, 100);
    assert.deepEqual(r, [9, 7, 5], 'a result does not change with later events');
    assert.throws(() => topN((x: number) => x, 0), /positive integer/);
  });
});

describe('sketch aggregates in a pipeline', () => {
  interface Ev { k: string; user: string; ms: number; ts: number }
  const alpha = 0.01;
  const aggregates = {
    n: count(),
    users: distinctCount((e: Ev) => e.user),
    p90: quantile((e: Ev) => e.ms, 0.9),
    slowest: topN((e: Ev) => ({ user: e.user, ms: e.ms }), 3, { by: (e) => e.ms }),
  };
  type Row = { key: string; start: number; end: number; n: number; users: number; p90: number; slowest: { user: string; ms: number }[]; retracted?: true };

  /** Events a little out of order (at most 2 s, the pipeline allows 5 s), 3 keys, many users. */
  function events(seed: number): Ev[] {
    const rand = prng(seed);
    const evs: Ev[] = [];
    let t = 0;
    for (let i = 0; i < 20_000; i++) {
      t += rand() < 0.002 ? 8000 : Math.floor(rand() * 20);
      evs.push({ k: `k${Math.floor(rand() * 3)}`, user: `u${Math.floor(rand() ** 2 * 3000)}`, ms: Math.round(Math.exp(3 + normal(rand)) * 100) / 100, ts: t });
    }
    // Local disorder: swap neighbours whose times are less than 2 s apart.
    for (let i = 1; i < evs.length; i++) if (rand() < 0.3 && evs[i]!.ts - evs[i - 1]!.ts < 2000) [evs[i], evs[i - 1]] = [evs[i - 1]!, evs[i]!];
    return evs;
  }

  function check(rows: Row[], groups: Map<string, Ev[]>) {
    assert.equal(rows.length, groups.size);
    for (const row of rows) {
      const evs = groups.get(`${row.key}/${row.start}`);
      assert.ok(evs, `no reference window for ${row.key} at ${row.start}`);
      assert.equal(row.n, evs.length);
      const distinct = new Set(evs.map((e) => e.user)).size;
      if (distinct <= 256) assert.equal(row.users, distinct);
      else assert.ok(Math.abs(row.users - distinct) <= 4 * (1.04 / 64) * distinct, `users ${row.users} vs ${distinct}`);
      const sorted = evs.map((e) => e.ms).sort((a, b) => a - b);
      const exact = sorted[Math.floor(0.9 * (sorted.length - 1))]!;
      assert.ok(Math.abs(row.p90 - exact) <= alpha * exact * (1 + 1e-9), `p90 ${row.p90} vs ${exact}`);
      const top = evs.map((e): [number, { user: string; ms: number }] => [e.ms, { user: e.user, ms: e.ms }])
        .sort((a, b) => b[0] - a[0] || (JSON.stringify(a[1]) < JSON.stringify(b[1]) ? -1 : 1)).slice(0, 3).map((e) => e[1]);
      assert.deepEqual(row.slowest, top);
    }
  }

  test('tumbling windows: distinctCount, quantile and topN per key and window match brute force', () => {
    const pipeline = definePipeline({
      name: 'sketches',
      setup(app) {
        app.stream<Ev>('in', { time: 'ts', outOfOrderness: '5s', partitions: 1 })
          .keyBy((e) => e.k)
          .window(tumbling('10s'))
          .aggregate(aggregates)
          .to('out', { partitions: 1 });
      },
    });
    const evs = events(3);
    const { outputs, lateEvents } = runBounded(pipeline, { in: evs }, { batchSize: 97 });
    assert.equal(lateEvents, 0);
    const groups = new Map<string, Ev[]>();
    for (const e of evs) {
      const id = `${e.k}/${Math.floor(e.ts / 10_000) * 10_000}`;
      groups.set(id, [...(groups.get(id) ?? []), e]);
    }
    const rows = outputs.get('out')!.map((r) => r.value as Row);
    assert.ok(rows.some((r) => r.users > 256) && rows.some((r) => r.users <= 256), 'windows in both the exact and the sketched range');
    check(rows, groups);
  });

  test('session windows, whose accumulators merge when an event bridges sessions, match brute force', () => {
    const gap = 60;
    const pipeline = definePipeline({
      name: 'sketch-sessions',
      setup(app) {
        app.stream<Ev>('in', { time: 'ts', outOfOrderness: '5s', partitions: 1 })
          .keyBy((e) => e.k)
          .window(session(gap))
          .aggregate(aggregates)
          .to('out', { partitions: 1 });
      },
    });
    const evs = events(4);
    const { outputs, lateEvents } = runBounded(pipeline, { in: evs }, { batchSize: 61 });
    assert.equal(lateEvents, 0);
    // Per key, sorted times; consecutive events at most `gap` apart share a session.
    const groups = new Map<string, Ev[]>();
    const byKey = new Map<string, Ev[]>();
    for (const e of evs) byKey.set(e.k, [...(byKey.get(e.k) ?? []), e]);
    for (const [k, list] of byKey) {
      list.sort((a, b) => a.ts - b.ts);
      let current: Ev[] = [];
      for (const e of list) {
        if (current.length > 0 && e.ts > current[current.length - 1]!.ts + gap) {
          groups.set(`${k}/${current[0]!.ts}`, current);
          current = [];
        }
        current.push(e);
      }
      groups.set(`${k}/${current[0]!.ts}`, current);
    }
    const rows = outputs.get('out')!.map((r) => r.value as Row);
    assert.ok(rows.every((r) => !r.retracted));
    assert.ok(rows.some((r) => r.n > 50), 'some sessions are large enough to be sketched');
    check(rows, groups);
  });
});
