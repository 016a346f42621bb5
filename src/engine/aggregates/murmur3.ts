const encoder = new TextEncoder();
let buffer = new Uint8Array(256);

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

/** MurmurHash3's 32-bit finalizer: spreads every input bit over the output (also used to route keys to tasks). */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The output of {@link murmur3x86_128}: four unsigned 32-bit words, reused by the next call. */
const out = new Uint32Array(4);

/**
 * MurmurHash3_x86_128 of the UTF-8 bytes of `s` (the reference algorithm, same output as smhasher's
 * and Python's `mmh3.hash128(s, seed, x64arch=False)`). Returns the four 32-bit words h1..h4 in a
 * buffer that the next call overwrites.
 */
export function murmur3x86_128(s: string, seed = 0): Uint32Array {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (buffer.length < s.length * 3) buffer = new Uint8Array(s.length * 3);
  const data = buffer;
  const len = encoder.encodeInto(s, data).written;
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const nblocks = len >>> 4;
  let k1: number, k2: number, k3: number, k4: number;
  for (let b = 0; b < nblocks; b++) {
    const i = b << 4;
    k1 = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k2 = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    k3 = data[i + 8]! | (data[i + 9]! << 8) | (data[i + 10]! << 16) | (data[i + 11]! << 24);
    k4 = data[i + 12]! | (data[i + 13]! << 8) | (data[i + 14]! << 16) | (data[i + 15]! << 24);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const t = nblocks << 4;
  const rem = len & 15;
  k1 = k2 = k3 = k4 = 0;
  if (rem > 12) {
    for (let j = rem - 1; j >= 12; j--) k4 ^= data[t + j]! << ((j - 12) * 8);
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (rem > 8) {
    for (let j = Math.min(rem, 12) - 1; j >= 8; j--) k3 ^= data[t + j]! << ((j - 8) * 8);
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (rem > 4) {
    for (let j = Math.min(rem, 8) - 1; j >= 4; j--) k2 ^= data[t + j]! << ((j - 4) * 8);
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (rem > 0) {
    for (let j = Math.min(rem, 4) - 1; j >= 0; j--) k1 ^= data[t + j]! << (j * 8);
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
  return out;
}
