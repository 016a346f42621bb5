import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/** The key a test signs JWTs with. */
export type SigningKey = { algorithm: 'HS256'; secret: string } | { algorithm: 'RS256'; privateKey: string | KeyObject };

/**
 * A compact JWS of `claims`, signed with `key`, for tests of code that verifies tokens. `header` is merged
 * over `{ alg, typ: 'JWT' }`, so a test can claim another `alg` than the one it signs with.
 *
 * @example
 * ```ts
 * const token = signJwt({ sub: 'alice', scope: 'read:*', exp: nowSeconds + 60 }, { algorithm: 'HS256', secret });
 * ```
 */
export function signJwt(claims: object, key: SigningKey, header: object = {}): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ alg: key.algorithm, typ: 'JWT', ...header })}.${part(claims)}`;
  const signature = key.algorithm === 'HS256'
    ? createHmac('sha256', key.secret).update(signed).digest()
    : sign('sha256', Buffer.from(signed), key.privateKey);
  return `${signed}.${signature.toString('base64url')}`;
}

/** A fresh 2048-bit RSA key pair in PEM (SPKI public, PKCS#8 private), for RS256 tests. Takes a moment: make one per file. */
export function rsaKeyPair(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}
