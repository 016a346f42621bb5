import type { FastifyInstance, FastifyReply } from 'fastify';
import { AuthError, type Authenticator, type Principal } from './authenticator.js';
import type { Permission } from './scopes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, once the access check let it through (absent on public routes). */
    principal?: Principal;
  }
}

/**
 * What a route needs: nothing (`public`), any accepted caller (`caller`, for routes that check more
 * themselves: the WebSocket gateway per subscription, lists filtered by what the caller may read), or
 * a {@link Permission} computed from the route's parameters.
 */
export type RouteRule = 'public' | 'caller' | ((params: Record<string, string>) => Permission);

const read = (resource: string): Permission => ({ action: 'read', resource });

/**
 * Every route of the HTTP API and what it needs (docs/api.md, "Access control"). A server refuses to
 * start with a route missing here.
 */
export const ROUTE_RULES: Readonly<Record<string, RouteRule>> = {
  'GET /': 'public',
  'GET /client.js': 'public',
  'GET /v1/health': 'public',
  'GET /metrics': () => ({ action: 'metrics' }),
  'GET /v1/pipelines': () => ({ action: 'metrics' }),
  'POST /v1/pipelines/:pipeline/savepoints': () => ({ action: 'admin' }),
  'GET /v1/topics': 'caller',
  'POST /v1/topics': () => ({ action: 'admin' }),
  'GET /v1/topics/:topic': (p) => read(p.topic!),
  'PATCH /v1/topics/:topic/config': () => ({ action: 'admin' }),
  'DELETE /v1/topics/:topic': () => ({ action: 'admin' }),
  'GET /v1/topics/:topic/partitions/:partition/records': (p) => read(p.topic!),
  'POST /v1/topics/:topic/events': (p) => ({ action: 'ingest', resource: p.topic! }),
  'GET /v1/views': 'caller',
  'GET /v1/views/:view/keys/:key': (p) => read(p.view!),
  'GET /v1/views/:view/rows': (p) => read(p.view!),
  'GET /v1/views/:view/count': (p) => read(p.view!),
  'GET /v1/sse/topics/:topic': (p) => read(p.topic!),
  'GET /v1/sse/views/:view': (p) => read(p.view!),
  // A plain GET answers 426; upgrades are checked where they are accepted (`ws-upgrade.ts`).
  'GET /v1/ws': 'caller',
};

/** Routes that take the token as `?access_token=`: browsers cannot set headers on WebSockets and EventSource. */
const TOKEN_IN_QUERY = new Set(['GET /v1/ws', 'GET /v1/sse/topics/:topic', 'GET /v1/sse/views/:view']);

/**
 * The bearer token of a request: `Authorization: Bearer …`, else `queryToken` (the `access_token`
 * parameter, where {@link TOKEN_IN_QUERY} allows it); undefined when there is none.
 */
export function bearerToken(authorization: string | undefined, queryToken: unknown): string | undefined {
  if (authorization !== undefined) {
    const m = /^Bearer +(.*)$/i.exec(authorization);
    // Any other scheme is a credential this server does not take: refuse it rather than ignore it.
    return m ? m[1]!.trim() : '';
  }
  return typeof queryToken === 'string' ? queryToken : undefined;
}

/** The `WWW-Authenticate` header of a 401 (RFC 6750). */
export function wwwAuthenticate(err: AuthError): string {
  return `Bearer realm="rivulet", error="${err.code === 'unauthenticated' ? 'invalid_request' : 'invalid_token'}"`;
}

function refuse(reply: FastifyReply, err: AuthError): FastifyReply {
  if (err.status === 401) void reply.header('www-authenticate', wwwAuthenticate(err));
  return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
}

/**
 * Checks every request against {@link ROUTE_RULES} before its handler runs: 401 without credentials
 * (unless anonymous access is configured) or with ones that are not accepted, 403 without the scope.
 * The caller is left on `req.principal`. Register after CORS, so that preflights need no credentials.
 */
export function registerAccessControl(app: FastifyInstance, auth: Authenticator): void {
  // A route registered without a rule is a mistake to catch at startup, not a route left open or shut by accident.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'OPTIONS') continue;
      const key = `${method === 'HEAD' ? 'GET' : method} ${route.url}`;
      if (!(key in ROUTE_RULES)) throw new Error(`route ${key} has no access rule in ROUTE_RULES`);
    }
  });
  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    // No such route: the not-found answer says so, and needs no credentials.
    if (url === undefined) return;
    const route = `${req.method === 'HEAD' ? 'GET' : req.method} ${url}`;
    const rule: RouteRule = ROUTE_RULES[route] ?? (() => ({ action: 'admin' }));
    if (rule === 'public') return;
    try {
      const query = TOKEN_IN_QUERY.has(route) ? (req.query as Record<string, unknown> | undefined)?.access_token : undefined;
      const principal = auth.authenticate(bearerToken(req.headers.authorization, query));
      if (rule !== 'caller') auth.authorize(principal, rule(req.params as Record<string, string>));
      req.principal = principal;
    } catch (err) {
      if (err instanceof AuthError) return refuse(reply, err);
      throw err;
    }
  });
}
