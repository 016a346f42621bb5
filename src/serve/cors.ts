import type { FastifyInstance } from 'fastify';

/**
 * Which web pages, by origin, may call the API from a browser (CORS). Without it, only pages served
 * by Rivulet itself (the dashboard) may.
 *
 * @example
 * ```ts
 * startRivulet({ cors: { origins: ['https://app.example.com'] } });
 * ```
 */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `'*'` for any. */
  origins: string[] | '*';
  /** How long a browser may cache a preflight answer, in seconds. Default 600. */
  maxAgeSeconds?: number;
}

const METHODS = 'GET, POST, PUT, DELETE, OPTIONS';

/**
 * Answers CORS preflights and marks answers to allowed origins. A preflight from an origin that is not
 * allowed gets `403 cors_origin_denied` naming it, so the cause shows in the browser's network tab.
 */
export function registerCors(app: FastifyInstance, options: CorsOptions): void {
  const allowed = options.origins === '*' ? undefined : new Set(options.origins);
  const allows = (origin: string) => allowed === undefined || allowed.has(origin);
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!allows(origin)) {
      if (preflight) return reply.code(403).send({ error: { code: 'cors_origin_denied', message: `origin '${origin}' may not call this API (allowed: ${[...allowed!].join(', ') || 'none'})` } });
      return;
    }
    void reply.header('access-control-allow-origin', allowed === undefined ? '*' : origin);
    void reply.header('vary', 'Origin');
    void reply.header('access-control-expose-headers', 'rivulet-positions');
    if (preflight) {
      void reply.header('access-control-allow-methods', METHODS);
      void reply.header('access-control-allow-headers', req.headers['access-control-request-headers'] ?? 'content-type');
      void reply.header('access-control-max-age', String(options.maxAgeSeconds ?? 600));
      return reply.code(204).send();
    }
  });
}
