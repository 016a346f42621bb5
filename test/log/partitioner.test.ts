import assert from 'node:assert/strict';
import { test } from 'node:test';
import { murmur2, partitionForKey } from '../../src/log/partitioner.js';

const bytes = (s: string) => new TextEncoder().encode(s);

test('murmur2 matches the values of Kafka\'s Utils.murmur2', () => {
  // Reference values from Kafka's own unit tests of its default partitioner hash.
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [input, expected] of cases) assert.equal(murmur2(bytes(input)), expected, input);
});

test('partitionForKey is stable, in range and spreads keys', () => {
  const counts = new Array(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const p = partitionForKey(`key-${i}`, 8);
    assert.equal(p, partitionForKey(`key-${i}`, 8));
    assert.ok(p >= 0 && p < 8);
    counts[p]++;
  }
  for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven spread: ${counts.join(',')}`);
});
