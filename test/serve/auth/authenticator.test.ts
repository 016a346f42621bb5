/**
 * The Authenticator: API keys (given as the key or its SHA-256), HS256 and RS256 JWTs with every reason
 * to refuse one, anonymous access, 403s that name the missing scope, and options refused with the path
 * of the bad field.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { InvalidArgumentError, RivuletError } from '../../../src/core/errors.js';
import type { AuthOptions } from '../../../src/serve/auth/auth-options.js';
import { AuthError, Authenticator, type AuthErrorCode } from '../../../src/serve/auth/authenticator.js';
import { rsaKeyPair, signJwt } from '../../helpers/jwt.js';

const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;
const SECRET = 'a-shared-secret-of-at-least-32-bytes!';
const HS = { algorithm: 'HS256', secret: SECRET } as const;
const DASH_KEY = 'dash-key-0123456789abcdef';
const INGEST_KEY = 'ingest-key-0123456789abcdef';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const rsa = rsaKeyPair();
const RS = { algorithm: 'RS256', privateKey: rsa.privateKey } as const;

/** Asserts that `fn` throws an AuthError with this status and code (and message, when given). */
function refuses(fn: () => unknown, status: 401 | 403, code: AuthErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AuthError, `expected an AuthError, got ${String(e)}`);
    assert.ok(e instanceof RivuletError);
    assert.equal(e.name, 'AuthError');
    assert.equal(e.status, status);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** Asserts that the options are refused with `invalid_auth_options`, the message starting with the field's path. */
function refusesOptions(options: unknown, path: string, message?: RegExp): void {
  assert.throws(() => new Authenticator(options as AuthOptions), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.equal(e.code, 'invalid_auth_options');
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('Authenticator: API keys', () => {
  const auth = new Authenticator({
    apiKeys: [
      { id: 'dash', key: DASH_KEY, scopes: ['read:*'] },
      { id: 'ingest', sha256: sha256(INGEST_KEY).toUpperCase(), scopes: ['ingest:sensors.*'], ingestRate: { eventsPerSecond: 50 } },
    ],
  });

  it('knows a key given as the key itself', () => {
    const p = auth.authenticate(DASH_KEY);
    assert.deepEqual({ id: p.id, kind: p.kind, ingestRate: p.ingestRate }, { id: 'key:dash', kind: 'api-key', ingestRate: undefined });
    assert.deepEqual(p.scopes.list, ['read:*']);
  });

  it('knows a key given as its SHA-256 (in either case), with its rate limit and the default burst', () => {
    const p = auth.authenticate(INGEST_KEY);
    assert.equal(p.id, 'key:ingest');
    assert.deepEqual(p.ingestRate, { eventsPerSecond: 50, burst: 50 });
    assert.equal(p.expiresAt, undefined);
  });

  it('refuses an unknown key, a near miss and an empty token without echoing them', () => {
    for (const token of ['not-a-key-0123456789', DASH_KEY.slice(0, -1), `${DASH_KEY}x`, DASH_KEY.toUpperCase(), '']) {
      refuses(() => auth.authenticate(token), 401, 'invalid_credentials', /API key is not known/);
      assert.throws(() => auth.authenticate(token), (e: Error) => token === '' || !e.message.includes(token));
    }
  });

  it('authorizes what the scopes allow and names the key and the missing scope otherwise', () => {
    assert.equal(auth.check(DASH_KEY, { action: 'read', resource: 'alerts' }, NOW).id, 'key:dash');
    assert.equal(auth.check(INGEST_KEY, { action: 'ingest', resource: 'sensors.temp' }).id, 'key:ingest');
    refuses(() => auth.check(DASH_KEY, { action: 'ingest', resource: 'payments' }), 403, 'forbidden', /^key 'dash' lacks scope 'ingest:payments'$/);
    refuses(() => auth.check(INGEST_KEY, { action: 'read', resource: 'sensors.temp' }), 403, 'forbidden', /^key 'ingest' lacks scope 'read:sensors\.temp'$/);
    refuses(() => auth.authorize(auth.authenticate(DASH_KEY), { action: 'admin' }), 403, 'forbidden', /^key 'dash' lacks scope 'admin'$/);
  });

  it('takes a token of three dot-separated parts for a JWT, and refuses it when no JWT issuer is configured', () => {
    refuses(() => auth.authenticate(signJwt({ sub: 'alice', scope: 'admin' }, HS)), 401, 'invalid_credentials', /accepts only API keys/);
  });
});

describe('Authenticator: anonymous access', () => {
  it('without anonymous scopes, a request without credentials is refused with how to send them', () => {
    const auth = new Authenticator({ apiKeys: [{ id: 'dash', key: DASH_KEY, scopes: ['read:*'] }] });
    refuses(() => auth.authenticate(undefined), 401, 'unauthenticated', /Authorization: Bearer <API key or JWT>/);
    refuses(() => auth.check(undefined, { action: 'read', resource: 'alerts' }), 401, 'unauthenticated');
  });

  it('with anonymous scopes, a request without credentials gets them, and credentials still count', () => {
    const auth = new Authenticator({ apiKeys: [{ id: 'admin', key: DASH_KEY, scopes: ['admin'] }], anonymous: ['read:public.*'] });
    const p = auth.check(undefined, { action: 'read', resource: 'public.news' });
    assert.equal(p.id, 'anonymous');
    assert.equal(p.kind, 'anonymous');
    // Missing a scope without credentials: 401, since sending credentials may help.
    refuses(() => auth.check(undefined, { action: 'read', resource: 'payments' }), 401, 'unauthenticated', /scope 'read:payments'.*Authorization: Bearer/);
    refuses(() => auth.check(undefined, { action: 'admin' }), 401, 'unauthenticated', /scope 'admin'/);
    assert.equal(auth.check(DASH_KEY, { action: 'admin' }).id, 'key:admin');
    // A bad token is refused, not taken for no token.
    refuses(() => auth.authenticate('wrong-key-0123456789'), 401, 'invalid_credentials');
  });

  it("anonymous ['admin'] lets everything through (for a demo)", () => {
    const auth = new Authenticator({ anonymous: ['admin'] });
    assert.equal(auth.check(undefined, { action: 'admin' }).id, 'anonymous');
    assert.equal(auth.check(undefined, { action: 'ingest', resource: 'x' }).id, 'anonymous');
  });
});

describe('Authenticator: JWTs', () => {
  const hs = new Authenticator({ jwt: { algorithm: 'HS256', secret: SECRET, ingestRate: { eventsPerSecond: 10, burst: 100 } } });
  const rs = new Authenticator({ jwt: [{ algorithm: 'RS256', publicKey: rsa.publicKey }] });
  const strict = new Authenticator({ jwt: { ...HS, issuer: 'https://id.example.com', audience: 'rivulet' } });
  const good = { sub: 'alice', scope: 'read:* ingest:sensors.*', exp: NOW_S + 600 };

  it('accepts a valid HS256 token: id from sub, scopes from the scope claim, expiry, the issuer rate limit', () => {
    const p = hs.authenticate(signJwt(good, HS), NOW);
    assert.equal(p.id, 'jwt:alice');
    assert.equal(p.kind, 'jwt');
    assert.deepEqual(p.scopes.list, ['read:*', 'ingest:sensors.*']);
    // Accepted until exp plus the default 30 s clock tolerance.
    assert.equal(p.expiresAt, (NOW_S + 600 + 30) * 1000);
    assert.deepEqual(p.ingestRate, { eventsPerSecond: 10, burst: 100 });
    assert.equal(hs.check(signJwt(good, HS), { action: 'ingest', resource: 'sensors.a' }, NOW).id, 'jwt:alice');
  });

  it('accepts a valid RS256 token', () => {
    const p = rs.authenticate(signJwt(good, RS), NOW);
    assert.equal(p.id, 'jwt:alice');
    assert.deepEqual(p.scopes.list, ['read:*', 'ingest:sensors.*']);
  });

  it('takes scopes from an array or another claim, and ignores scopes it does not know', () => {
    const exp = NOW_S + 60;
    assert.deepEqual(hs.authenticate(signJwt({ scope: ['read:a', 42, 'openid', 'admin'], exp }, HS), NOW).scopes.list, ['read:a', 'admin']);
    assert.deepEqual(hs.authenticate(signJwt({ scope: 'openid profile read:a  write:b', exp }, HS), NOW).scopes.list, ['read:a']);
    const custom = new Authenticator({ jwt: { ...HS, scopesClaim: 'rivulet_scopes' } });
    const p = custom.authenticate(signJwt({ scope: 'admin', rivulet_scopes: 'read:alerts', exp }, HS), NOW);
    assert.deepEqual(p.scopes.list, ['read:alerts']);
    refuses(() => custom.authorize(p, { action: 'admin' }), 403, 'forbidden');
  });

  it('refuses a token without exp, unless requireExpiry is false', () => {
    refuses(() => hs.authenticate(signJwt({ sub: 'alice' }, HS), NOW), 401, 'invalid_credentials', /no 'exp' claim/);
    const lax = new Authenticator({ jwt: { ...HS, requireExpiry: false } });
    const p = lax.authenticate(signJwt({ sub: 'alice' }, HS), NOW);
    assert.equal(p.expiresAt, undefined);
    refusesOptions({ jwt: { ...HS, requireExpiry: 'no' } }, 'auth.jwt.requireExpiry', /true or false/);
  });

  it('names a token without sub, and one without scopes can do nothing', () => {
    const p = hs.authenticate(signJwt({ exp: NOW_S + 60 }, HS), NOW);
    assert.equal(p.id, 'jwt:(no subject)');
    refuses(() => hs.authorize(p, { action: 'read', resource: 'x' }), 403, 'forbidden', /^the token \(no subject\) lacks scope 'read:x'$/);
  });

  it('names the subject and the missing scope in a 403', () => {
    refuses(() => hs.check(signJwt(good, HS), { action: 'ingest', resource: 'payments' }, NOW), 403, 'forbidden', /^the token of 'alice' lacks scope 'ingest:payments'$/);
  });

  it('refuses a token that is not three base64url parts', () => {
    const [h, p, s] = signJwt(good, HS).split('.') as [string, string, string];
    refuses(() => hs.authenticate(`${h}.${p}.${s}!`, NOW), 401, 'invalid_credentials', /three base64url parts/);
    refuses(() => hs.authenticate(`${h}..${s}`, NOW), 401, 'invalid_credentials', /three base64url parts/);
    refuses(() => hs.authenticate(`${h}.${p}.`, NOW), 401, 'invalid_credentials', /three base64url parts/);
  });

  it('refuses a header that is not a JSON object', () => {
    const [, p, s] = signJwt(good, HS).split('.');
    for (const header of ['not json', '[1]', 'null']) {
      refuses(() => hs.authenticate(`${Buffer.from(header).toString('base64url')}.${p}.${s}`, NOW), 401, 'invalid_credentials', /header is not a JSON object/);
    }
  });

  it('refuses another alg than the configured one, alg none and a missing alg', () => {
    refuses(() => hs.authenticate(signJwt(good, HS, { alg: 'HS384' }), NOW), 401, 'invalid_credentials', /signed with "HS384".*accepts only HS256/);
    refuses(() => hs.authenticate(signJwt(good, HS, { alg: 'none' }), NOW), 401, 'invalid_credentials', /signed with "none"/);
    refuses(() => hs.authenticate(signJwt(good, HS, { alg: undefined }), NOW), 401, 'invalid_credentials', /signed with \(none\)/);
    refuses(() => hs.authenticate(signJwt(good, RS), NOW), 401, 'invalid_credentials', /signed with "RS256"/);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good)).toString('base64url')}.`;
    refuses(() => hs.authenticate(unsigned, NOW), 401, 'invalid_credentials');
  });

  it('refuses the algorithm-confusion attack: an HS256 token signed with the RS256 public key', () => {
    const forged = signJwt({ sub: 'mallory', scope: 'admin' }, { algorithm: 'HS256', secret: rsa.publicKey });
    refuses(() => rs.authenticate(forged, NOW), 401, 'invalid_credentials', /signed with "HS256".*accepts only RS256/);
    // Claiming RS256 in the header does not help: the HMAC is no RSA signature.
    const relabelled = signJwt({ sub: 'mallory', scope: 'admin' }, { algorithm: 'HS256', secret: rsa.publicKey }, { alg: 'RS256' });
    refuses(() => rs.authenticate(relabelled, NOW), 401, 'invalid_credentials', /signature does not verify/);
  });

  it('refuses a bad signature: another secret, another RSA key, a changed payload', () => {
    refuses(() => hs.authenticate(signJwt(good, { algorithm: 'HS256', secret: `${SECRET}-other` }), NOW), 401, 'invalid_credentials', /signature does not verify \(HS256\)/);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    refuses(() => rs.authenticate(signJwt(good, { algorithm: 'RS256', privateKey: other }), NOW), 401, 'invalid_credentials', /signature does not verify \(RS256\)/);
    const [h, , s] = signJwt(good, HS).split('.');
    const escalated = Buffer.from(JSON.stringify({ ...good, scope: 'admin' })).toString('base64url');
    refuses(() => hs.authenticate(`${h}.${escalated}.${s}`, NOW), 401, 'invalid_credentials', /signature does not verify/);
  });

  it('refuses a critical header extension', () => {
    refuses(() => hs.authenticate(signJwt(good, HS, { crit: ['exp'] }), NOW), 401, 'invalid_credentials', /crit/);
  });

  it('refuses a payload that is not a JSON object', () => {
    for (const payload of [[1, 2], 'alice', null]) {
      refuses(() => hs.authenticate(signJwt(payload as object, HS), NOW), 401, 'invalid_credentials', /payload is not a JSON object/);
    }
  });

  it('refuses exp and nbf that are not numbers', () => {
    refuses(() => hs.authenticate(signJwt({ ...good, exp: 'tomorrow' }, HS), NOW), 401, 'invalid_credentials', /'exp' is not a number/);
    refuses(() => hs.authenticate(signJwt({ ...good, nbf: '2023-01-01' }, HS), NOW), 401, 'invalid_credentials', /'nbf' is not a number/);
  });

  it('refuses an expired token with token_expired, allowing the clock tolerance (default 30 s)', () => {
    refuses(() => hs.authenticate(signJwt({ ...good, exp: NOW_S - 31 }, HS), NOW), 401, 'token_expired', /expired at 2023-11-14T22:12:49\.000Z/);
    refuses(() => hs.authenticate(signJwt({ ...good, exp: NOW_S - 30 }, HS), NOW), 401, 'token_expired');
    assert.equal(hs.authenticate(signJwt({ ...good, exp: NOW_S - 29 }, HS), NOW).id, 'jwt:alice');
    const exact = new Authenticator({ jwt: { ...HS, clockToleranceSeconds: 0 } });
    refuses(() => exact.authenticate(signJwt({ ...good, exp: NOW_S }, HS), NOW), 401, 'token_expired');
    assert.equal(exact.authenticate(signJwt({ ...good, exp: NOW_S + 1 }, HS), NOW).id, 'jwt:alice');
  });

  it('refuses a token before its nbf, allowing the clock tolerance', () => {
    refuses(() => hs.authenticate(signJwt({ ...good, nbf: NOW_S + 31 }, HS), NOW), 401, 'invalid_credentials', /not valid before/);
    assert.equal(hs.authenticate(signJwt({ ...good, nbf: NOW_S + 30 }, HS), NOW).id, 'jwt:alice');
    const exact = new Authenticator({ jwt: { ...HS, clockToleranceSeconds: 0 } });
    refuses(() => exact.authenticate(signJwt({ ...good, nbf: NOW_S + 1 }, HS), NOW), 401, 'invalid_credentials', /not valid before/);
    assert.equal(exact.authenticate(signJwt({ ...good, nbf: NOW_S }, HS), NOW).id, 'jwt:alice');
  });

  it('checks iss when an issuer is configured', () => {
    const claims = { ...good, aud: 'rivulet' };
    assert.equal(strict.authenticate(signJwt({ ...claims, iss: 'https://id.example.com' }, HS), NOW).id, 'jwt:alice');
    refuses(() => strict.authenticate(signJwt({ ...claims, iss: 'https://evil.example.com' }, HS), NOW), 401, 'invalid_credentials', /issuer "https:\/\/evil\.example\.com" is not the expected 'https:\/\/id\.example\.com'/);
    refuses(() => strict.authenticate(signJwt(claims, HS), NOW), 401, 'invalid_credentials', /issuer \(none\)/);
  });

  it('checks aud, a string or an array, when an audience is configured', () => {
    const claims = { ...good, iss: 'https://id.example.com' };
    assert.equal(strict.authenticate(signJwt({ ...claims, aud: ['other', 'rivulet'] }, HS), NOW).id, 'jwt:alice');
    refuses(() => strict.authenticate(signJwt({ ...claims, aud: 'other' }, HS), NOW), 401, 'invalid_credentials', /audience "other" does not include 'rivulet'/);
    refuses(() => strict.authenticate(signJwt({ ...claims, aud: ['other', 'more'] }, HS), NOW), 401, 'invalid_credentials', /audience/);
    refuses(() => strict.authenticate(signJwt(claims, HS), NOW), 401, 'invalid_credentials', /audience \(none\)/);
  });

  it('never puts the token or its signature in a message', () => {
    const token = signJwt({ ...good, exp: NOW_S - 100 }, { algorithm: 'HS256', secret: `${SECRET}-other` });
    assert.throws(() => hs.authenticate(token, NOW), (e: Error) => !e.message.includes(token.split('.')[2]!) && !e.message.includes(SECRET));
  });

  it('with several issuers, accepts a token of any and explains a refusal with the issuer whose algorithm matched', () => {
    for (const jwt of [[{ ...HS }, { algorithm: 'RS256' as const, publicKey: rsa.publicKey }], [{ algorithm: 'RS256' as const, publicKey: rsa.publicKey }, { ...HS }]]) {
      const both = new Authenticator({ jwt });
      assert.equal(both.authenticate(signJwt(good, HS), NOW).id, 'jwt:alice');
      assert.equal(both.authenticate(signJwt(good, RS), NOW).id, 'jwt:alice');
      refuses(() => both.authenticate(signJwt(good, { algorithm: 'HS256', secret: `${SECRET}-other` }), NOW), 401, 'invalid_credentials', /signature does not verify \(HS256\)/);
      refuses(() => both.authenticate(signJwt({ ...good, exp: NOW_S - 100 }, RS), NOW), 401, 'token_expired');
    }
  });
});

describe('Authenticator: options', () => {
  const key = (extra: object = {}) => ({ id: 'k', key: DASH_KEY, scopes: ['read:*'], ...extra });

  it('names the bad scope by its path', () => {
    refusesOptions({ apiKeys: [key(), { id: 'b', key: INGEST_KEY, scopes: ['write:x'] }] }, 'auth.apiKeys[1].scopes[0]', /invalid scope 'write:x'/);
    refusesOptions({ apiKeys: [key({ scopes: ['read:a', 'read:a*b'] })] }, 'auth.apiKeys[0].scopes[1]', /'read:a\*b'/);
    refusesOptions({ apiKeys: [key({ scopes: [7] })] }, 'auth.apiKeys[0].scopes[0]', /must be a string, got number/);
    refusesOptions({ apiKeys: [key({ scopes: [] })] }, 'auth.apiKeys[0].scopes', /is empty/);
    refusesOptions({ anonymous: ['read:*', 'everything'] }, 'auth.anonymous[1]', /'everything'/);
  });

  it('wants exactly one of key and sha256, a key of 16 characters or more that is no JWT, and a sha256 of 64 hex digits', () => {
    refusesOptions({ apiKeys: [key({ sha256: sha256(DASH_KEY) })] }, 'auth.apiKeys[0]', /exactly one of 'key' and 'sha256'/);
    refusesOptions({ apiKeys: [{ id: 'k', scopes: ['read:*'] }] }, 'auth.apiKeys[0]', /exactly one of 'key' and 'sha256'/);
    refusesOptions({ apiKeys: [key({ key: 'short-secret' })] }, 'auth.apiKeys[0].key', /at least 16 characters, got 12/);
    refusesOptions({ apiKeys: [key({ key: 'a key with spaces in it' })] }, 'auth.apiKeys[0].key', /only letters, digits/);
    refusesOptions({ apiKeys: [key({ key: 'aaaaaaaa.bbbbbbbb.cccccccc' })] }, 'auth.apiKeys[0].key', /taken for a JWT/);
    refusesOptions({ apiKeys: [{ id: 'k', sha256: 'abc123', scopes: ['read:*'] }] }, 'auth.apiKeys[0].sha256', /64 hex digits/);
    refusesOptions({ apiKeys: [key({ id: '' })] }, 'auth.apiKeys[0].id', /non-empty string/);
  });

  it('never puts a secret in a message', () => {
    assert.throws(() => new Authenticator({ apiKeys: [key({ key: 'short-secret' })] }), (e: Error) => !e.message.includes('short-secret'));
    assert.throws(() => new Authenticator({ jwt: { algorithm: 'HS256', secret: 'too-short-secret' } }), (e: Error) => !e.message.includes('too-short-secret'));
  });

  it('refuses duplicate ids and duplicate keys, also when one is given by its SHA-256', () => {
    refusesOptions({ apiKeys: [key(), key({ key: INGEST_KEY })] }, 'auth.apiKeys[1]', /the id 'k' as auth\.apiKeys\[0\]/);
    refusesOptions({ apiKeys: [key(), { id: 'other', sha256: sha256(DASH_KEY), scopes: ['admin'] }] }, 'auth.apiKeys[1]', /same key \('k'\) as auth\.apiKeys\[0\]/);
  });

  it('checks JWT keys: a 32-byte HS256 secret, an RSA public key of 2048 bits in PEM', () => {
    refusesOptions({ jwt: { algorithm: 'HS256', secret: 'x'.repeat(31) } }, 'auth.jwt.secret', /at least 32 bytes \(RFC 7518 §3\.2\), got 31/);
    assert.ok(new Authenticator({ jwt: { algorithm: 'HS256', secret: 'x'.repeat(32) } }));
    refusesOptions({ jwt: [{ ...HS }, { algorithm: 'RS256', publicKey: 'not a pem' }] }, 'auth.jwt[1].publicKey', /not a PEM public key/);
    refusesOptions({ jwt: { algorithm: 'RS256', publicKey: rsa.privateKey } }, 'auth.jwt.publicKey', /private key/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    refusesOptions({ jwt: { algorithm: 'RS256', publicKey: small.publicKey } }, 'auth.jwt.publicKey', /at least 2048 bits/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    refusesOptions({ jwt: { algorithm: 'RS256', publicKey: ec.publicKey } }, 'auth.jwt.publicKey', /RSA public key/);
  });

  it('refuses an unknown algorithm, unknown fields and bad JWT settings', () => {
    refusesOptions({ jwt: { algorithm: 'none', secret: SECRET } }, 'auth.jwt.algorithm', /'HS256' or 'RS256'/);
    refusesOptions({ jwt: { ...HS, audiance: 'rivulet' } }, 'auth.jwt.audiance', /not an option/);
    refusesOptions({ jwt: { algorithm: 'HS256', publicKey: rsa.publicKey } }, 'auth.jwt.publicKey', /not an option/);
    refusesOptions({ jwt: { ...HS, clockToleranceSeconds: -1 } }, 'auth.jwt.clockToleranceSeconds');
    refusesOptions({ jwt: { ...HS, issuer: '' } }, 'auth.jwt.issuer');
    refusesOptions({ jwt: { ...HS, scopesClaim: 5 } }, 'auth.jwt.scopesClaim');
    refusesOptions({ apiKey: [key()] }, 'auth.apiKey', /not an option/);
  });

  it('checks rate limits', () => {
    refusesOptions({ apiKeys: [key({ ingestRate: { eventsPerSecond: 0 } })] }, 'auth.apiKeys[0].ingestRate.eventsPerSecond', /above 0/);
    refusesOptions({ jwt: { ...HS, ingestRate: { eventsPerSecond: 5, burst: 0.5 } } }, 'auth.jwt.ingestRate.burst', /at least 1/);
    refusesOptions({ jwt: { ...HS, ingestRate: 100 } }, 'auth.jwt.ingestRate', /must be an object/);
    const auth = new Authenticator({ apiKeys: [key({ ingestRate: { eventsPerSecond: 0.5 } })] });
    assert.deepEqual(auth.authenticate(DASH_KEY).ingestRate, { eventsPerSecond: 0.5, burst: 1 });
  });

  it('refuses options that let no one in, or are no object', () => {
    refusesOptions({}, 'auth', /lets no one in/);
    refusesOptions({ apiKeys: [], jwt: [] }, 'auth', /lets no one in/);
    refusesOptions(null, 'auth', /must be an object/);
    refusesOptions({ apiKeys: {} }, 'auth.apiKeys', /must be an array/);
  });
});
