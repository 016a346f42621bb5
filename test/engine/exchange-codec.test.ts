import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch, encodeBatch } from '../../src/engine/parallel/codec.js';
import { taskForKey } from '../../src/engine/parallel/exchange.js';
import { currentPart } from '../../src/engine/parallel/links.js';
import { deserialize, serialize } from 'node:v8';
import { prng } from '../helpers/prng.js';

/** What a batch becomes after the trip between threads: encoded, cloned as postMessage does, decoded. */
function trip(values: unknown[]): unknown[] {
  const transfer: ArrayBuffer[] = [];
  const encoded = encodeBatch(values, transfer);
  return decodeBatch(structuredClone(encoded, { transfer }));
}

test('a batch decodes to what structured clone of the batch gives, over random shapes and field types', () => {
  const rand = prng(21);
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
  const field = (): unknown => {
    const r = rand();
    if (r < 0.3) return Math.floor(rand() * 1000) - 500;
    if (r < 0.4) return rand() * 1e12;
    if (r < 0.45) return [-0, NaN, -Infinity, 2 ** 31, -(2 ** 31)][Math.floor(rand() * 5)];
    if (r < 0.7) return ['x', 'y', '', 'üñí', `w${Math.floor(rand() * 100)}`][Math.floor(rand() * 5)];
    if (r < 0.75) return null;
    if (r < 0.8) return undefined;
    if (r < 0.85) return { inner: Math.floor(rand() * 10) };
    if (r < 0.9) return [1, 'two'];
    return rand() < 0.5;
  };
  for (let round = 0; round < 200; round++) {
    // Few shapes in some batches (columns), more than the codec keeps apart in others (sent as they are).
    const shapes = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => names.filter(() => rand() < 0.4));
    const values = Array.from({ length: Math.floor(rand() * 300) }, () => {
      if (rand() < 0.05) return field();
      const keys = shapes[Math.floor(rand() * shapes.length)]!;
      return Object.fromEntries(keys.map((k) => [k, field()]));
    });
    assert.deepStrictEqual(trip(values), structuredClone(values), `round ${round}`);
  }
});

test('nested plain objects go in columns of their own; deep and cyclic values still arrive', () => {
  const bid = { auction: 1000, price: 5, channel: 'Google' };
  const values = Array.from({ length: 50 }, (_, i) => ({ auction: { id: i, seller: { id: i % 7, name: `p${i % 7}` } }, bid: { ...bid, price: i } }));
  const transfer: ArrayBuffer[] = [];
  const encoded = encodeBatch(values, transfer);
  assert.deepEqual(encoded.shapes[0]!.columns.map((c) => c.kind), ['o', 'o'], 'the two nested objects are columns');
  assert.deepStrictEqual(decodeBatch(structuredClone(encoded, { transfer })), values);
  const deep = [{ a: { b: { c: { d: { e: 1 } } } } }];
  assert.deepStrictEqual(trip(deep), deep);
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const back = trip([cyclic])[0] as Record<string, unknown>;
  assert.equal(back.name, 'loop');
  let o = back;
  for (let i = 0; i < 10; i++) o = o.self as Record<string, unknown>;
  assert.equal(o.name, 'loop', 'the cycle can be followed');
});

test("a field named '__proto__' stays a field, as structured clone keeps it", () => {
  const values = [JSON.parse('{"k":1,"__proto__":{"evil":true}}'), { k: 2, inner: JSON.parse('{"__proto__":"x","a":1}') }];
  const back = trip(values) as Record<string, unknown>[];
  assert.deepStrictEqual(back, structuredClone(values));
  assert.equal(Object.getPrototypeOf(back[0]), Object.prototype);
  assert.ok(Object.hasOwn(back[0]!, '__proto__'));
});

test('integers arrive as integers and -0 stays -0', () => {
  const out = trip([{ n: 1 }, { n: -0 }, { n: 2 ** 31 - 1 }, { n: 2 ** 31 }]) as { n: number }[];
  assert.ok(Object.is(out[1]!.n, -0));
  assert.deepEqual(out.map((o) => o.n), [1, -0, 2 ** 31 - 1, 2 ** 31]);
});

test('keys spread evenly over tasks, whatever their pattern', () => {
  for (const tasks of [2, 3, 8]) {
    for (const keys of [
      Array.from({ length: 8000 }, (_, i) => i * 100), // hot Nexmark auctions: multiples of 100
      Array.from({ length: 8000 }, (_, i) => `user-${i}`),
    ]) {
      const counts = new Array<number>(tasks).fill(0);
      for (const k of keys) counts[taskForKey(k, tasks)]!++;
      const even = keys.length / tasks;
      for (const c of counts) assert.ok(Math.abs(c - even) < even * 0.1, `${tasks} tasks: ${counts.join(', ')}`);
    }
  }
  assert.equal(taskForKey('a', 1), 0);
  assert.equal(taskForKey(7, 5), taskForKey(7, 5));
});

test('events an exchange topic holds in the layout of a typed array per column are read as they were sent', () => {
  // A message of that layout, as v8.serialize wrote it to the topic: two bids and a string between them.
  const values = [
    { type: 'bid', auction: 7, price: 1.5, seller: { id: 3, name: 'ann' } },
    'as it is',
    { type: 'bid', auction: 9, price: 2, seller: { id: 4, name: 'bo' } },
  ];
  const sellers = { shapeOf: Uint8Array.of(0, 0), shapes: [{ keys: ['id', 'name'], count: 2, columns: [
    { kind: 'n', data: Int32Array.of(3, 4) }, { kind: 's', data: ['ann', 'bo'], codes: Int32Array.of(0, 1) }] }], asIs: [] };
  const old = {
    x: 1,
    v: { shapeOf: Uint8Array.of(0, 255, 0), asIs: ['as it is'], shapes: [{ keys: ['type', 'auction', 'price', 'seller'], count: 2, columns: [
      { kind: 's', data: ['bid'], codes: Int32Array.of(0, 0) },
      { kind: 'n', data: Int32Array.of(7, 9) },
      { kind: 'n', data: Float64Array.of(1.5, 2) },
      { kind: 'o', data: sellers },
    ] }] },
    t: Float64Array.of(10, 11, 12),
    w: Float64Array.of(0, 1, 2),
  };
  for (const k of [Float64Array.of(7, 8, 9), ['k7', 'k8', 'k9']]) {
    const part = currentPart(deserialize(serialize({ ...old, k })) as never);
    assert.ok('v' in part);
    assert.deepStrictEqual(decodeBatch(part.v), values);
    const n = values.length;
    assert.deepEqual([...part.tw.subarray(0, 2 * n)], [10, 11, 12, 0, 1, 2], 'times, then watermarks');
    if (k instanceof Float64Array) assert.deepEqual([...part.tw.subarray(2 * n)], [7, 8, 9], 'numeric keys follow');
    else assert.deepEqual(part.k, k);
  }
  // Parts of the current form pass as they are.
  const watermark = { x: 0, wm: 5 };
  assert.equal(currentPart(watermark), watermark);
});

test('a column whose strings stop or start repeating from one batch to the next still arrives whole', () => {
  for (let batch = 0; batch < 40; batch++) {
    // Unique names for a while (the encoder stops looking them up), then one name over and over.
    const values = Array.from({ length: 50 }, (_, i) => ({ name: batch < 20 || batch % 7 === 0 ? `person ${batch}-${i}` : 'same', city: 'Boise' }));
    const transfer: ArrayBuffer[] = [];
    const encoded = encodeBatch(values, transfer);
    assert.deepStrictEqual(decodeBatch(structuredClone(encoded, { transfer })), values, `batch ${batch}`);
    const cities = encoded.shapes[0]!.columns[1]!;
    assert.ok(cities.kind === 's' && cities.data.length === 1, 'a repeated string is sent once per batch');
  }
});

test('a value whose getter throws fails its batch, and the encoder keeps no space for it', () => {
  const rows = Array.from({ length: 5000 }, (_, i) => ({ a: i, b: i * 0.5, c: -i, d: i + 0.25 }));
  const bad = Object.defineProperty({ a: 1, b: 2, c: 3 } as Record<string, unknown>, 'd', { enumerable: true, get() { throw new Error('no d'); } });
  const before = process.memoryUsage().arrayBuffers;
  for (let round = 0; round < 200; round++) assert.throws(() => encodeBatch([...rows, bad], []), /no d/);
  // Each failed batch took ~200 KB of scratch space; kept, they would add up to tens of MB.
  assert.ok(process.memoryUsage().arrayBuffers - before < 8e6, `${process.memoryUsage().arrayBuffers - before} bytes more`);
  assert.deepStrictEqual(trip(rows.slice(0, 10)), rows.slice(0, 10));
});
