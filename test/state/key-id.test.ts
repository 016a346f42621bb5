/**
 * Key ids: a group key's id is a number exactly when its key string is a number's own string, so that
 * `5` and `'5'` — one group by key string — are one id, and ids read back from disk are the ids written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyString } from '../../src/engine/operators/operator.js';
import { keyId, keyIdBefore, keyIdOfString, keyIdString } from '../../src/state/key-id.js';
import { prng } from '../helpers/prng.js';

test('key ids: numbers and the strings that read back as them are one id; other strings stay strings', () => {
  assert.equal(keyId(5), 5);
  assert.equal(keyId('5'), 5);
  assert.equal(keyId(-0), 0);
  assert.equal(keyId('-1.5'), -1.5);
  assert.equal(keyId('1e+21'), 1e21);
  for (const s of ['-0', '007', '5.0', '1e21', 'Infinity', '-Infinity', 'NaN', ' 5', '5 ', '0x10', '', '-', '1_000']) {
    assert.equal(keyIdOfString(s), s, `'${s}' is not a number's own string`);
  }
  assert.equal(keyId(Infinity), 'null', 'a non-finite number is the key string JSON gives it');
  assert.equal(keyId(null), 'null');
  assert.equal(keyId({ a: 1 }), '{"a":1}');
  assert.equal(keyId([1, 'x']), '[1,"x"]');
  assert.equal(keyId(true), 'true');
  assert.equal(keyId(undefined), 'undefined');
});

test('key ids: equal exactly when key strings are equal, and ordered as key strings', () => {
  const random = prng(7);
  const pick = (): unknown => {
    const r = random();
    const n = Math.floor(random() * 200) - 100;
    if (r < 0.3) return n;
    if (r < 0.45) return n / 4;
    if (r < 0.6) return String(n);
    if (r < 0.7) return `0${Math.abs(n)}`;
    if (r < 0.8) return `k${n}`;
    if (r < 0.9) return [n];
    if (r < 0.95) return random() < 0.5 ? 1e21 * n : String(n / 8);
    // Whole numbers of every length up to and past where ids are compared as numbers (10^15).
    const len = Math.floor(random() * 18);
    const v = Math.floor(random() * 10 ** len) * (random() < 0.3 ? -1 : 1);
    return random() < 0.3 ? v - (v % 10 ** Math.floor(random() * len)) : v;
  };
  for (let i = 0; i < 20000; i++) {
    const a = pick();
    const b = pick();
    const [ia, ib] = [keyId(a), keyId(b)];
    assert.equal(ia === ib, keyString(a) === keyString(b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    assert.equal(keyIdString(ia), keyString(a), 'an id stands for its key string');
    assert.equal(keyIdOfString(keyIdString(ia)), ia, 'an id read back from its key string is itself');
    assert.equal(keyIdBefore(ia, ib), keyString(a) < keyString(b));
  }
});

test('key ids: a key whose JSON reads as a number is that number', () => {
  assert.equal(keyId(new Number(5)), 5);
  assert.equal(keyId({ toJSON: () => 5 }), 5);
  assert.equal(keyId({ toJSON: () => '5' }), '"5"');
});
