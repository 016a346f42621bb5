import { RivuletError } from '../../core/errors.js';
import { resolveAuthOptions, sha256Hex, type AuthOptions, type IngestRate, type ResolvedJwt } from './auth-options.js';
import { JwtError, type JwtClaims } from './jwt.js';
import { describePermission, grants, parseScopes, type ParsedScopes, type Permission } from './scopes.js';

/** Who made a request, as the `Authenticator` established it, and what they may do. */
export interface Principal {
  /** `key:<id>`, `jwt:<sub>` (`jwt:(no subject)` for a token without one) or `anonymous`: for logs, metrics and messages. */
  readonly id: string;
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  readonly scopes: ParsedScopes;
  /** The limit on events this principal may append, when there is one. */
  readonly ingestRate?: IngestRate;
  /** When a JWT principal's token expires (epoch ms): a long-lived subscription should end then. */
  readonly expiresAt?: number;
}

/** The codes of {@link AuthError}. */
export type AuthErrorCode = 'unauthenticated' | 'invalid_credentials' | 'token_expired' | 'forbidden';

/**
 * A request was refused by the `Authenticator`. `status` is the HTTP status to answer with: 401 when
 * credentials are missing (`unauthenticated`), not accepted (`invalid_credentials`) or expired
 * (`token_expired`), so the caller should authenticate (again); 403 (`forbidden`) when they are good but
 * lack the scope, which the message names.
 */
export class AuthError extends RivuletError {
  override name = 'AuthError';
  declare readonly code: AuthErrorCode;
  constructor(readonly status: 401 | 403, code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

const SEND_CREDENTIALS = `send 'Authorization: Bearer <API key or JWT>'`;

/**
 * Decides who a request comes from (its bearer token: an API key or a JWT) and whether they may do what
 * it asks. The server builds one from its `auth` options at startup and calls {@link Authenticator.check}
 * for each request (or {@link Authenticator.authenticate} once per WebSocket connection and
 * {@link Authenticator.authorize} per subscription).
 *
 * @example
 * ```ts
 * const auth = new Authenticator({ apiKeys: [{ id: 'dash', sha256: hash, scopes: ['read:*'] }] });
 * const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
 * try { auth.check(bearer, { action: 'ingest', resource: 'payments' }); }
 * catch (e) { if (e instanceof AuthError) reply.code(e.status).send({ error: { code: e.code, message: e.message } }); }
 * ```
 */
export class Authenticator {
  /** API key principals by the SHA-256 of the key: a lookup takes no longer for a key that nearly matches. */
  private readonly keys = new Map<string, Principal>();
  private readonly jwt: readonly ResolvedJwt[];
  private readonly anonymous: Principal | undefined;

  /** Throws `InvalidArgumentError` code `invalid_auth_options`, naming the field, for bad options. */
  constructor(options: AuthOptions) {
    const resolved = resolveAuthOptions(options);
    for (const k of resolved.apiKeys) {
      this.keys.set(k.sha256, { id: `key:${k.id}`, kind: 'api-key', scopes: k.scopes, ...(k.ingestRate && { ingestRate: k.ingestRate }) });
    }
    this.jwt = resolved.jwt;
    this.anonymous = resolved.anonymous && { id: 'anonymous', kind: 'anonymous', scopes: resolved.anonymous };
  }

  /**
   * The principal behind `token`, the bearer token as presented (undefined when the request had none).
   * A token of three dot-separated parts is taken for a JWT, anything else for an API key. Throws
   * {@link AuthError} (401) when there is no token and no anonymous access, or the token is not accepted.
   */
  authenticate(token: string | undefined, now = Date.now()): Principal {
    if (token === undefined) {
      if (this.anonymous) return this.anonymous;
      throw new AuthError(401, 'unauthenticated', `this endpoint needs credentials: ${SEND_CREDENTIALS}`);
    }
    if (token.split('.').length === 3) return this.jwtPrincipal(token, now);
    const principal = this.keys.get(sha256Hex(token));
    if (!principal) throw new AuthError(401, 'invalid_credentials', 'the API key is not known to this server');
    return principal;
  }

  /**
   * Throws {@link AuthError} when `principal` lacks the scope for `need`: 403 `forbidden`, naming the
   * principal and the scope; for anonymous requests 401 `unauthenticated`, since credentials may help.
   */
  authorize(principal: Principal, need: Permission): void {
    if (grants(principal.scopes, need)) return;
    const scope = describePermission(need);
    if (principal.kind === 'anonymous') {
      throw new AuthError(401, 'unauthenticated', `this needs scope '${scope}', which requests without credentials lack: ${SEND_CREDENTIALS}`);
    }
    throw new AuthError(403, 'forbidden', `${describePrincipal(principal)} lacks scope '${scope}'`);
  }

  /** {@link Authenticator.authenticate} then {@link Authenticator.authorize}: the principal, when it may do `need`. */
  check(token: string | undefined, need: Permission, now = Date.now()): Principal {
    const principal = this.authenticate(token, now);
    this.authorize(principal, need);
    return principal;
  }

  private jwtPrincipal(token: string, now: number): Principal {
    if (this.jwt.length === 0) throw new AuthError(401, 'invalid_credentials', 'the token is a JWT, but this server accepts only API keys');
    const errors: JwtError[] = [];
    for (const issuer of this.jwt) {
      let claims: JwtClaims;
      try {
        claims = issuer.verifier.verify(token, now);
      } catch (e) {
        if (!(e instanceof JwtError)) throw e;
        errors.push(e);
        continue;
      }
      const granted = claims[issuer.scopesClaim];
      const list = typeof granted === 'string' ? granted.split(' ') : Array.isArray(granted) ? granted.filter((s): s is string => typeof s === 'string') : [];
      return {
        id: `jwt:${typeof claims.sub === 'string' ? claims.sub : '(no subject)'}`,
        kind: 'jwt',
        // Identity providers put their own scopes (openid, profile) next to Rivulet's: skip those.
        scopes: parseScopes(list, { ignoreInvalid: true }),
        ...(issuer.ingestRate && { ingestRate: issuer.ingestRate }),
        // Accepted until exp plus the clock tolerance: that is when it stops working.
        ...(typeof claims.exp === 'number' && { expiresAt: (claims.exp + issuer.verifier.toleranceSeconds) * 1000 }),
      };
    }
    // Explain with the verifier that got furthest: with two issuers, "bad signature" from the one whose
    // algorithm matched says more than "wrong algorithm" from the other.
    const best = errors.reduce((a, b) => (b.stage > a.stage ? b : a));
    throw new AuthError(401, best.code, best.message, { cause: best });
  }
}

function describePrincipal(principal: Principal): string {
  const name = principal.id.slice(principal.id.indexOf(':') + 1);
  if (principal.kind === 'api-key') return `key '${name}'`;
  return principal.id === 'jwt:(no subject)' ? 'the token (no subject)' : `the token of '${name}'`;
}
