/**
 * Key ids: how state tables, timers and operators' own maps hold a group key.
 *
 * A group key is any JSON-like value, and two keys are one group when their key strings are equal
 * (`keyString`: a string as it is, anything else as JSON — so `5` and `'5'` are one group). Turning
 * every numeric key into a string costs an allocation and a string hash per event, and numeric keys are
 * the common case (ids of auctions, cards, sensors); a key id keeps a finite number as the number
 * itself and anything else as its key string. The one form is canonical: a string id never reads as a
 * number (`'5'` becomes `5`), so id equality is key-string equality, and a numeric id `n` stands for the
 * key string `String(n)` — which is what checkpoints and disk hold, unchanged by key ids.
 *
 * @module
 */

/** A group key as tables and timers hold it: a finite number, or a string that does not read as one. */
export type KeyId = string | number;

/** The key id of a group key (see the module). */
export function keyId(key: unknown): KeyId {
  if (typeof key === 'number') {
    if (Number.isFinite(key)) return key === 0 ? 0 : key; // -0 is the key string '0'
    return JSON.stringify(key); // 'null', as `keyString` has it
  }
  if (typeof key === 'string') return keyIdOfString(key);
  // JSON may read as a number too (a boxed Number, a `toJSON`): the id must be that number then.
  return keyIdOfString(JSON.stringify(key) ?? 'undefined');
}

/**
 * The key id of a key string, as read back from a checkpoint, from disk, or from a composite key: the
 * number it reads as when `String` of that number gives it back (`'5'`, `'-1.5'`, `'1e+21'`), else itself.
 */
export function keyIdOfString(s: string): KeyId {
  const c = s.charCodeAt(0);
  // Only a digit or a minus sign starts a number's string: other keys pay one comparison.
  if ((c >= 48 && c <= 57) || c === 45) {
    const n = Number(s);
    if (Number.isFinite(n) && String(n) === s) return n;
  }
  return s;
}

/** The key string a key id stands for. */
export function keyIdString(id: KeyId): string {
  return typeof id === 'string' ? id : String(id);
}

/**
 * Orders key ids as their key strings (code unit order), so that an order that depends on keys — timers
 * of one time — is the same whether a key is held as a number or a string.
 */
export function keyIdBefore(a: KeyId, b: KeyId): boolean {
  if (typeof a === 'string') {
    if (typeof b === 'string') return a < b;
  } else if (typeof b === 'number' && Number.isInteger(a) && Number.isInteger(b) && Math.abs(a) < 1e15 && Math.abs(b) < 1e15) {
    // Integer ids (most keys) compared as their decimal strings without making them: a heap of timers
    // compares keys of timers of one time on every step. '-' sorts before every digit.
    if (a < 0) return b < 0 ? decimalBefore(-a, -b) : true;
    return b < 0 ? false : decimalBefore(a, b);
  }
  return keyIdString(a) < keyIdString(b);
}

/** `String(a) < String(b)` for whole numbers 0 ≤ a, b < 10^15 (where every product below is exact). */
function decimalBefore(a: number, b: number): boolean {
  const da = digits(a);
  const db = digits(b);
  // The shorter one padded with zeros to the other's length: equal means it is a prefix, which sorts first.
  if (da < db) return a * 10 ** (db - da) <= b;
  if (da > db) return a < b * 10 ** (da - db);
  return a < b;
}

function digits(n: number): number {
  let d = 1;
  for (let p = 10; p <= n; p *= 10) d++; // powers of ten are exact doubles
  return d;
}
