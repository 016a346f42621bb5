import { createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { InvalidArgumentError, RivuletError } from '../../core/errors.js';

/** The claims of a verified JWT: its payload, a JSON object. */
export type JwtClaims = { readonly [claim: string]: unknown };

/**
 * How a {@link JwtVerifier} checks tokens: the one algorithm it accepts with its key, and the claims it
 * requires. `AuthOptions.jwt` is the documented, defaulted form of these options; build a verifier
 * directly only where no `Authenticator` is wanted.
 */
export type JwtVerifierOptions = (
  | { algorithm: 'HS256'; /** The shared secret, at least 32 bytes (RFC 7518 §3.2). */ secret: string | Buffer }
  | { algorithm: 'RS256'; /** The issuer's RSA public key (2048 bits or more): PEM text or a key object. */ publicKey: string | KeyObject }
) & {
  /** When set, the `iss` claim must equal it. */
  issuer?: string;
  /** When set, the `aud` claim (a string or an array of strings) must be or contain it. */
  audience?: string;
  /** Leeway for `exp` and `nbf`, for clocks that disagree a little. */
  clockToleranceSeconds: number;
  /** Refuse tokens without an `exp` claim (they would never expire). */
  requireExpiry: boolean;
};

/**
 * A JWT was refused. `code` is `token_expired` for an authentic token past its `exp`, else
 * `invalid_credentials`. `stage` says how far verification got — 0 the token's form, 1 its algorithm,
 * 2 its signature, 3 its claims (the token is authentic) — so that, of several verifiers, the one that
 * knew the token best can explain the refusal. Messages never contain the token or a key.
 */
export class JwtError extends RivuletError {
  override name = 'JwtError';
  declare readonly code: 'invalid_credentials' | 'token_expired';
  constructor(code: 'invalid_credentials' | 'token_expired', message: string, readonly stage: 0 | 1 | 2 | 3) {
    super(code, message);
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Verifies compact JWS tokens (JWTs) signed with HS256 or RS256 and returns their claims. Use it where a
 * server takes identities from an identity provider; the `Authenticator` builds one for each entry of
 * `AuthOptions.jwt`.
 *
 * Only the configured algorithm is accepted, whatever the token's header says: an RS256 verifier
 * therefore refuses an HS256 token signed with its public key as the secret (the algorithm-confusion
 * attack), and `alg: none` is refused by every verifier.
 *
 * @example
 * ```ts
 * const verifier = new JwtVerifier({ algorithm: 'RS256', publicKey: pem, issuer: 'https://id.example.com', clockToleranceSeconds: 30 });
 * const claims = verifier.verify(token); // throws JwtError when the token is not good
 * ```
 */
export class JwtVerifier {
  readonly algorithm: 'HS256' | 'RS256';
  private readonly key: Buffer | KeyObject;
  private readonly issuer: string | undefined;
  private readonly audience: string | undefined;
  /** Leeway for `exp` and `nbf`: a token is accepted until `exp` plus this. */
  readonly toleranceSeconds: number;
  private readonly requireExpiry: boolean;

  /** Throws `InvalidArgumentError` for a key that cannot be used: a short secret, or not an RSA public key of 2048 bits or more. */
  constructor(options: JwtVerifierOptions) {
    this.algorithm = options.algorithm;
    this.key = options.algorithm === 'HS256' ? hmacSecret(options.secret) : rsaPublicKey(options.publicKey);
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.toleranceSeconds = options.clockToleranceSeconds;
    this.requireExpiry = options.requireExpiry;
  }

  /** The claims of `token` when it is authentic and valid at `now` (epoch ms); else throws {@link JwtError}. */
  verify(token: string, now = Date.now()): JwtClaims {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) {
      throw new JwtError('invalid_credentials', 'the token is not a JWT: it needs three base64url parts separated by dots', 0);
    }
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
    const header = decodeObject(headerPart);
    if (header === undefined) throw new JwtError('invalid_credentials', 'the JWT header is not a JSON object', 0);
    // The algorithm comes from configuration, never from the token: the header only has to agree.
    if (header.alg !== this.algorithm) {
      throw new JwtError('invalid_credentials', `the JWT is signed with ${show(header.alg)}, but this server accepts only ${this.algorithm}`, 1);
    }
    // RFC 7515 §4.1.11: extensions marked critical that a verifier does not know make the token invalid.
    if (header.crit !== undefined) throw new JwtError('invalid_credentials', `the JWT header lists critical extensions ('crit'), which Rivulet does not support`, 1);
    if (!this.signatureMatches(`${headerPart}.${payloadPart}`, Buffer.from(signaturePart, 'base64url'))) {
      throw new JwtError('invalid_credentials', `the JWT signature does not verify (${this.algorithm})`, 2);
    }
    const claims = decodeObject(payloadPart);
    if (claims === undefined) throw new JwtError('invalid_credentials', 'the JWT payload is not a JSON object', 3);
    this.checkClaims(claims, now / 1000);
    return claims;
  }

  private signatureMatches(signed: string, signature: Buffer): boolean {
    if (this.key instanceof Buffer) {
      const expected = createHmac('sha256', this.key).update(signed).digest();
      // Constant-time comparison, so that timing does not reveal how much of a forged signature is right.
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    return verify('sha256', Buffer.from(signed), this.key, signature);
  }

  private checkClaims(claims: JwtClaims, nowSeconds: number): void {
    const fail = (message: string) => new JwtError('invalid_credentials', message, 3);
    const { exp, nbf, iss, aud } = claims;
    for (const [name, value] of [['exp', exp], ['nbf', nbf]] as const) {
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw fail(`the JWT claim '${name}' is not a number of seconds`);
    }
    if (this.issuer !== undefined && iss !== this.issuer) throw fail(`the JWT issuer ${show(iss)} is not the expected '${this.issuer}'`);
    if (this.audience !== undefined && aud !== this.audience && !(Array.isArray(aud) && aud.includes(this.audience))) {
      throw fail(`the JWT audience ${show(aud)} does not include '${this.audience}'`);
    }
    if (exp === undefined && this.requireExpiry) throw fail("the JWT has no 'exp' claim: tokens that never expire are refused");
    if (typeof exp === 'number' && nowSeconds >= exp + this.toleranceSeconds) {
      throw new JwtError('token_expired', `the JWT expired at ${isoTime(exp)}: get a new one`, 3);
    }
    if (typeof nbf === 'number' && nowSeconds + this.toleranceSeconds < nbf) throw fail(`the JWT is not valid before ${isoTime(nbf)}`);
  }
}

function hmacSecret(secret: string | Buffer): Buffer {
  const bytes = Buffer.from(secret);
  if (bytes.length < 32) throw new InvalidArgumentError(`an HS256 secret needs at least 32 bytes (RFC 7518 §3.2), got ${bytes.length}`);
  return bytes;
}

function rsaPublicKey(publicKey: string | KeyObject): KeyObject {
  // createPublicKey would accept a private key too; refuse it so that the secret stays with the token issuer.
  if (typeof publicKey === 'string' && publicKey.includes('PRIVATE KEY')) {
    throw new InvalidArgumentError('this is a private key: give the public key (openssl rsa -in key.pem -pubout); the private key belongs to the token issuer only');
  }
  let key: KeyObject;
  try {
    key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  } catch (cause) {
    throw new InvalidArgumentError(`not a PEM public key (${(cause as Error).message})`, undefined, { cause });
  }
  if (key.type !== 'public' || key.asymmetricKeyType !== 'rsa') {
    throw new InvalidArgumentError(`RS256 needs an RSA public key, got a ${key.type} key${key.asymmetricKeyType ? ` (${key.asymmetricKeyType})` : ''}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new InvalidArgumentError(`an RS256 key needs at least 2048 bits (RFC 7518 §3.3), got ${bits}`);
  return key;
}

function decodeObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A claim or header value for a message: JSON (which escapes control characters), clipped, since it comes from the caller. */
function show(value: unknown): string {
  if (value === undefined) return '(none)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? `${seconds}` : date.toISOString();
}
