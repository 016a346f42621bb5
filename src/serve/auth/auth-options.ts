import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../core/errors.js';
import { JwtVerifier } from './jwt.js';
import { parseScopes, scopeProblem, type ParsedScopes } from './scopes.js';

/**
 * A token bucket for the events a caller may append: `eventsPerSecond` on average, with bursts of up to
 * `burst` events. Give it to API keys or JWT issuers whose callers should not be able to flood a topic.
 */
export interface RateLimitOptions {
  /** Sustained rate, events per second; more than 0. */
  eventsPerSecond: number;
  /** Events that may be appended at once after a quiet spell; at least 1. Default: `eventsPerSecond` (at least 1). */
  burst?: number;
}

/**
 * An API key: a secret that a program sends as `Authorization: Bearer <key>`. Use keys for services and
 * scripts; use JWTs where people sign in through an identity provider.
 *
 * @example
 * ```ts
 * { id: 'sensors-gw', sha256: '9f86d081884c7d65…', scopes: ['ingest:sensors.*'], ingestRate: { eventsPerSecond: 500 } }
 * ```
 */
export interface ApiKeyOptions {
  /** A name for the key, shown in logs and error messages (never the key itself). Unique. */
  id: string;
  /**
   * The key itself: at least 16 characters of letters, digits and `-._~+/` (such as `openssl rand -hex 32`).
   * Give either `key` or `sha256`.
   */
  key?: string;
  /** The SHA-256 of the key in hex (`printf %s "$KEY" | sha256sum`), so that the configuration holds no secret. */
  sha256?: string;
  /** What the key may do, such as `['read:*', 'ingest:sensors.*']`; at least one. */
  scopes: string[];
  /** Limits the events that requests with this key may append. Default: no limit. */
  ingestRate?: RateLimitOptions;
}

interface JwtCommon {
  /** When set, tokens must carry this `iss` claim. */
  issuer?: string;
  /** When set, the token's `aud` claim (a string or an array) must be or contain this. */
  audience?: string;
  /** The claim holding the scopes: a space-separated string or an array of strings. Default `scope`. */
  scopesClaim?: string;
  /** Leeway for `exp` and `nbf`, for clocks that disagree a little. Default 30 seconds. */
  clockToleranceSeconds?: number;
  /** Refuse tokens without an `exp` claim, which would never expire. Default true. */
  requireExpiry?: boolean;
  /** Limits the events that each token of this issuer may append. Default: no limit. */
  ingestRate?: RateLimitOptions;
}

/**
 * An issuer of JWTs that Rivulet accepts: HS256 with a shared secret, or RS256 with the issuer's public
 * key (the usual choice with an identity provider, as Rivulet then holds no secret). Tokens carry their
 * scopes in a claim; scopes Rivulet does not know (`openid`, `profile`) are ignored.
 *
 * @example
 * ```ts
 * { algorithm: 'RS256', publicKey: readFileSync('issuer.pem', 'utf8'), issuer: 'https://id.example.com', audience: 'rivulet' }
 * ```
 */
export type JwtOptions =
  | (JwtCommon & { algorithm: 'HS256'; /** The shared secret, at least 32 bytes (RFC 7518 §3.2). */ secret: string })
  | (JwtCommon & { algorithm: 'RS256'; /** The issuer's RSA public key (2048 bits or more), PEM. */ publicKey: string });

/**
 * Who may use Rivulet's HTTP and WebSocket API. Callers send `Authorization: Bearer <API key or JWT>`;
 * each endpoint needs a scope (`admin`, `ingest:<topic>`, `read:<topic or view>`).
 *
 * @example
 * ```ts
 * const auth: AuthOptions = {
 *   apiKeys: [{ id: 'dash', sha256: process.env.DASH_KEY_SHA256!, scopes: ['read:*'] }],
 *   jwt: { algorithm: 'HS256', secret: process.env.JWT_SECRET!, issuer: 'https://id.example.com' },
 * };
 * ```
 */
export interface AuthOptions {
  /** Keys for services and scripts. */
  apiKeys?: ApiKeyOptions[];
  /** One issuer, or several (a token is accepted when one of them accepts it). */
  jwt?: JwtOptions | JwtOptions[];
  /** Scopes of requests without credentials, such as `['read:*']` for a public dashboard or `['admin']` for a demo. Default: none (credentials required). */
  anonymous?: string[];
}

/** An ingest rate limit with its defaults applied. */
export interface IngestRate {
  eventsPerSecond: number;
  burst: number;
}

/** An API key as checked at runtime: known by the SHA-256 of its secret only. */
export interface ResolvedApiKey {
  id: string;
  /** Lowercase hex. */
  sha256: string;
  scopes: ParsedScopes;
  ingestRate?: IngestRate;
}

/** A JWT issuer as checked at runtime. */
export interface ResolvedJwt {
  verifier: JwtVerifier;
  scopesClaim: string;
  ingestRate?: IngestRate;
}

/** {@link AuthOptions} validated, with defaults applied and keys compiled. */
export interface ResolvedAuthOptions {
  apiKeys: ResolvedApiKey[];
  jwt: ResolvedJwt[];
  /** Undefined when requests need credentials. */
  anonymous: ParsedScopes | undefined;
}

const DEFAULTS = { scopesClaim: 'scope', clockToleranceSeconds: 30, requireExpiry: true } as const;
// The characters of an RFC 6750 bearer token, so that every configured key can be sent in a header.
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const API_KEY_FIELDS = ['id', 'key', 'sha256', 'scopes', 'ingestRate'];
const JWT_FIELDS = ['algorithm', 'issuer', 'audience', 'scopesClaim', 'clockToleranceSeconds', 'requireExpiry', 'ingestRate'];

/** The lowercase hex SHA-256 of `text`: how API keys are stored and looked up. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Checks `options` (which may come from a configuration file, so every type is checked) and converts them
 * into the form the `Authenticator` works with. Call it once at startup: a bad option is refused with
 * `InvalidArgumentError` code `invalid_auth_options`, whose message names the field, such as
 * `auth.apiKeys[1].scopes[0]: invalid scope 'write:x': …`. Messages never contain a secret.
 * Unknown fields are refused too, because a misspelt `audience` would silently turn a check off.
 */
export function resolveAuthOptions(options: AuthOptions, path = 'auth'): ResolvedAuthOptions {
  const o = object(options, path, ['apiKeys', 'jwt', 'anonymous']);
  const apiKeys = o.apiKeys === undefined ? [] : array(o.apiKeys, `${path}.apiKeys`).map((k, i) => apiKey(k, `${path}.apiKeys[${i}]`));
  apiKeys.forEach((key, i) => {
    const earlier = apiKeys.findIndex((k) => k.id === key.id || k.sha256 === key.sha256);
    if (earlier === i) return;
    const same = apiKeys[earlier]!.id === key.id ? `the id '${key.id}'` : `the same key ('${apiKeys[earlier]!.id}')`;
    throw fail(`${path}.apiKeys[${i}]`, `has ${same} as ${path}.apiKeys[${earlier}]`);
  });
  const jwt = o.jwt === undefined ? [] : Array.isArray(o.jwt) ? o.jwt.map((j, i) => jwtIssuer(j, `${path}.jwt[${i}]`)) : [jwtIssuer(o.jwt, `${path}.jwt`)];
  const anonymous = o.anonymous === undefined ? undefined : scopes(o.anonymous, `${path}.anonymous`);
  // Refused rather than starting a server that turns every request away.
  if (apiKeys.length === 0 && jwt.length === 0 && anonymous === undefined) throw fail(path, 'lets no one in: configure apiKeys, jwt or anonymous');
  return { apiKeys, jwt, anonymous };
}

function apiKey(value: unknown, path: string): ResolvedApiKey {
  const o = object(value, path, API_KEY_FIELDS);
  const id = string(o.id, `${path}.id`);
  if ((o.key === undefined) === (o.sha256 === undefined)) throw fail(path, `give exactly one of 'key' and 'sha256'`);
  let sha256: string;
  if (o.key !== undefined) {
    const key = string(o.key, `${path}.key`);
    if (key.length < 16) throw fail(`${path}.key`, `must be at least 16 characters, got ${key.length} (make one with 'openssl rand -hex 32')`);
    if (!BEARER_TOKEN.test(key)) throw fail(`${path}.key`, `may hold only letters, digits and '-._~+/' ('=' only at the end), as it is sent in an Authorization header`);
    if (key.split('.').length === 3) throw fail(`${path}.key`, 'has three dot-separated parts, so it would be taken for a JWT');
    sha256 = sha256Hex(key);
  } else {
    sha256 = string(o.sha256, `${path}.sha256`).toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw fail(`${path}.sha256`, `must be the 64 hex digits of the key's SHA-256`);
  }
  const parsed = scopes(o.scopes, `${path}.scopes`);
  if (parsed.list.length === 0) throw fail(`${path}.scopes`, 'is empty: the key could do nothing');
  return { id, sha256, scopes: parsed, ...optional('ingestRate', rate(o.ingestRate, `${path}.ingestRate`)) };
}

function jwtIssuer(value: unknown, path: string): ResolvedJwt {
  const algorithm = object(value, path).algorithm;
  if (algorithm !== 'HS256' && algorithm !== 'RS256') throw fail(`${path}.algorithm`, `must be 'HS256' or 'RS256'`);
  const keyField = algorithm === 'HS256' ? 'secret' : 'publicKey';
  const o = object(value, path, [...JWT_FIELDS, keyField]);
  const key = string(o[keyField], `${path}.${keyField}`);
  const tolerance = o.clockToleranceSeconds === undefined ? DEFAULTS.clockToleranceSeconds : number(o.clockToleranceSeconds, `${path}.clockToleranceSeconds`, 0);
  const common = {
    ...optional('issuer', o.issuer === undefined ? undefined : string(o.issuer, `${path}.issuer`)),
    ...optional('audience', o.audience === undefined ? undefined : string(o.audience, `${path}.audience`)),
    clockToleranceSeconds: tolerance,
    requireExpiry: o.requireExpiry === undefined ? DEFAULTS.requireExpiry : boolean(o.requireExpiry, `${path}.requireExpiry`),
  };
  let verifier: JwtVerifier;
  try {
    verifier = new JwtVerifier(algorithm === 'HS256' ? { algorithm, secret: key, ...common } : { algorithm, publicKey: key, ...common });
  } catch (cause) {
    if (!(cause instanceof InvalidArgumentError)) throw cause;
    throw fail(`${path}.${keyField}`, cause.message, cause);
  }
  return {
    verifier,
    scopesClaim: o.scopesClaim === undefined ? DEFAULTS.scopesClaim : string(o.scopesClaim, `${path}.scopesClaim`),
    ...optional('ingestRate', rate(o.ingestRate, `${path}.ingestRate`)),
  };
}

function rate(value: unknown, path: string): IngestRate | undefined {
  if (value === undefined) return undefined;
  const o = object(value, path, ['eventsPerSecond', 'burst']);
  const eventsPerSecond = number(o.eventsPerSecond, `${path}.eventsPerSecond`, 0, true);
  // A burst below 1 would never let a single event through.
  const burst = o.burst === undefined ? Math.max(1, eventsPerSecond) : number(o.burst, `${path}.burst`, 1);
  return { eventsPerSecond, burst };
}

function scopes(value: unknown, path: string): ParsedScopes {
  const list = array(value, path);
  list.forEach((s, i) => {
    const problem = typeof s === 'string' ? scopeProblem(s) : `must be a string, got ${kind(s)}`;
    if (problem !== undefined) throw fail(`${path}[${i}]`, problem);
  });
  return parseScopes(list as string[]);
}

function fail(path: string, problem: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${path}: ${problem}`, 'invalid_auth_options', cause === undefined ? undefined : { cause });
}

// The checks below name the type of a bad value, never the value: it may be a secret.
function kind(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/** Without `known`, any fields are let through (to read one before knowing which others apply). */
function object(value: unknown, path: string, known?: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path, `must be an object, got ${kind(value)}`);
  const unknown = known && Object.keys(value).find((k) => !known.includes(k));
  if (unknown !== undefined) throw fail(`${path}.${unknown}`, `is not an option here (known: ${known!.join(', ')})`);
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw fail(path, `must be an array, got ${kind(value)}`);
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw fail(path, `must be a non-empty string, got ${value === '' ? 'an empty one' : kind(value)}`);
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw fail(path, `must be true or false, got ${kind(value)}`);
  return value;
}

function number(value: unknown, path: string, min: number, exclusive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (exclusive && value === min)) {
    throw fail(path, `must be a number ${exclusive ? 'above' : 'of at least'} ${min}, got ${typeof value === 'number' ? value : kind(value)}`);
  }
  return value;
}

/** `{ [name]: value }`, or nothing when `value` is undefined: optional fields stay absent instead of holding undefined. */
function optional<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [name]: value } as { [P in K]?: V });
}
