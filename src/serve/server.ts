import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidArgumentError, InvalidEventError, RivuletError, TopicOwnedError, UnknownTopicError } from '../core/errors.js';
import type { Engine } from '../engine/engine.js';
import { DEAD_LETTER_TOPIC, deadLetter } from '../engine/task.js';
import type { Log } from '../log/log.js';
import { clientBundle } from './client-bundle.js';
import { dashboardHtml } from './dashboard.js';
import { checkEvents, parseBody } from './ingest.js';
import { createMetrics } from './metrics.js';
import { TopicRates } from './rates.js';
import { invalidRequest } from './request-errors.js';
import { LogTopicAdmin } from './topic-admin.js';
import { registerTopicsApi } from './topics-api.js';
import { ViewRegistry } from './views.js';
import { gatewaySettings, serveConnection, wireRecord, type GatewayDeps, type GatewayOptions } from './ws-gateway.js';
import { registerCors, type CorsOptions } from './cors.js';
import { registerSse } from './sse.js';
import { acceptWebSockets } from './ws-upgrade.js';
import { GatewayStats } from './outlet.js';
import { TopicTails } from './topic-tail.js';
import { Heartbeats } from './heartbeats.js';
import { registerAccessControl } from './auth/access.js';
import type { AuthOptions } from './auth/auth-options.js';
import { Authenticator } from './auth/authenticator.js';
import { IngestRateLimiter, RateLimitedError } from './auth/rate-limiter.js';
import { grants } from './auth/scopes.js';

/** Options of {@link startServer}. */
export interface ServerOptions {
  log: Log;
  engine: Engine;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest accepted request body in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /**
   * Largest WebSocket frame handled, in bytes (default 64 KiB): a larger one gets a `frame_too_large`
   * error frame; one above 16 times this closes the connection.
   */
  maxFrameBytes?: number;
  /** The WebSocket gateway's batching, buffering and heartbeat settings. */
  gateway?: GatewayOptions;
  /** Web origins that may call the API from a browser; none by default. */
  cors?: CorsOptions;
  /**
   * Who may call the API and what they may do (docs/api.md, "Access control"): API keys, JWT issuers,
   * and the scopes of requests without credentials (`anonymous`, none unless given).
   */
  auth: AuthOptions;
}

/** A listening Rivulet HTTP + WebSocket server. */
export interface RunningServer {
  url: string;
  port: number;
  views: ViewRegistry;
  /** Connections, send buffers and flow-control counters of the WebSocket gateway. */
  gateway: GatewayStats;
  close(): Promise<void>;
}

/** HTTP status of each error code. */
const STATUS: Record<string, number> = {
  unknown_topic: 404,
  unknown_view: 404,
  unknown_key: 404,
  unknown_partition: 404,
  topic_exists: 409,
  topic_in_use: 409,
  topic_owned: 409,
  unknown_pipeline: 404,
  savepoint_exists: 409,
  pipeline_not_running: 409,
  body_too_large: 413,
  rate_limited: 429,
  unsupported_media_type: 415,
  // Failures of the server's own storage, not of the request: the client may retry later.
  corrupt_data: 500,
  storage_error: 503,
};

function sendError(reply: { code(n: number): { send(b: unknown): unknown } }, status: number, code: string, message: string, extra: object = {}) {
  return reply.code(status).send({ error: { code, message }, ...extra });
}

const RangeQuery = z.object({
  offset: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().positive().max(10_000).default(100),
});

const ViewRowsQuery = z.object({
  prefix: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  cursor: z.string().optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
}).strict();
const ViewCountQuery = z.object({ prefix: z.string().optional() }).strict();

/** A page's cursor: the last key it holds, opaque to clients. */
function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ after: key })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { after?: unknown };
    if (typeof after === 'string') return after;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError(`cursor '${cursor}' is not one this server gave out`, 'invalid_cursor');
}

/**
 * Starts the HTTP API, the WebSocket gateway and the dashboard (routes in docs/api.md), and the
 * views the pipelines declared.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { log, engine } = options;
  const bodyLimit = options.bodyLimit ?? 1 << 20;
  const auth = new Authenticator(options.auth);
  const limiter = new IngestRateLimiter();
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit });
  const views = new ViewRegistry(log, (topic) => engine.publishedWatermarkOf(topic));
  for (const name of engine.views()) views.add(name);
  const rates = new TopicRates(log);
  const gateway = new GatewayStats();
  const tails = new TopicTails(log, options.gateway?.batch ?? 500);
  const heartbeats = new Heartbeats(options.gateway?.heartbeatMs ?? 15_000);
  gateway.sharedTailSubscriptions = () => tails.members();

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof RateLimitedError) void reply.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
    if (err instanceof RivuletError) return sendError(reply, STATUS[err.code] ?? 400, err.code, err.message);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'body_too_large', `request body is larger than the limit of ${bodyLimit} bytes; nothing was appended`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, 415, 'unsupported_media_type', err.message);
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.statusCode === 400) {
      return sendError(reply, 400, 'bad_request', err.message);
    }
    console.error('request failed:', err);
    return sendError(reply, 500, 'internal', 'the server failed to handle the request');
  });
  if (options.cors) registerCors(app, options.cors);
  /** Whether the caller may read a topic or view: lists show only those. */
  const readable = (req: FastifyRequest) => (name: string) => req.principal !== undefined && grants(req.principal.scopes, { action: 'read', resource: name });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url}`));

  const maxFrameBytes = options.gateway?.maxFrameBytes ?? options.maxFrameBytes ?? 64 << 10;
  // After CORS (preflights need no credentials), before every route.
  registerAccessControl(app, auth);

  app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').send(dashboardHtml));
  app.get('/client.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(await clientBundle()));
  app.get('/v1/health', () => ({ status: 'ok' }));
  app.get('/v1/pipelines', () => ({ pipelines: engine.status() }));
  app.post<{ Params: { pipeline: string }; Body: { name?: unknown } | undefined }>('/v1/pipelines/:pipeline/savepoints', async (req, reply) => {
    const name = req.body?.name;
    if (name !== undefined && typeof name !== 'string') throw new InvalidArgumentError(`body: 'name' must be a string, got ${typeof name}`);
    const { manifest, dir } = await engine.savepoint(req.params.pipeline, name);
    return reply.code(201).send({ savepoint: manifest, path: dir });
  });
  registerTopicsApi(app, new LogTopicAdmin(log, { pipelinesUsing: (topic) => engine.pipelinesUsing(topic) }), readable);

  const metrics = createMetrics(log, () => engine.status(), gateway);
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()));

  app.get<{ Params: { topic: string; partition: string } }>('/v1/topics/:topic/partitions/:partition/records', async (req) => {
    const info = log.describeTopic(req.params.topic);
    if (!info) throw new UnknownTopicError(req.params.topic);
    const partition = Number(req.params.partition);
    if (!Number.isInteger(partition) || partition < 0 || partition >= info.partitions) {
      throw new RivuletError('unknown_partition', `topic '${info.name}' has partitions 0-${info.partitions - 1}, not '${req.params.partition}'`);
    }
    const q = RangeQuery.safeParse(req.query);
    if (!q.success) throw invalidRequest(q.error, 'query');
    const records = await log.read(info.name, partition, q.data.offset, q.data.limit);
    return { topic: info.name, partition, records: records.map(wireRecord), nextOffset: q.data.offset + records.length, endOffset: log.endOffsets(info.name)[partition] };
  });

  /** The pipeline's ingest rules of a topic; `?key=<field>` keys the events of a topic no pipeline keys. */
  const ingestRules = (topic: string, keyField: unknown) => {
    const rules = engine.ingestRules(topic);
    if (keyField === undefined) return rules;
    if (typeof keyField !== 'string' || !/^[A-Za-z0-9_$-]{1,100}$/.test(keyField)) {
      throw new InvalidArgumentError(`query 'key' must name a field of the events (letters, digits, _ $ -), got ${JSON.stringify(keyField)}`);
    }
    if (rules?.key !== undefined) throw new InvalidArgumentError(`topic '${topic}' is keyed as its pipeline declares; leave out the query 'key'`);
    return { time: rules?.time ?? [], key: keyField };
  };

  // Ingest reads the body as text so that it can name the line or event that is wrong.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { topic: string }; Body: string }>('/v1/topics/:topic/events', async (req, reply) => {
      const topic = req.params.topic;
      if (!log.describeTopic(topic)) throw new UnknownTopicError(topic);
      const writer = engine.writerOf(topic);
      if (writer !== undefined) throw new TopicOwnedError(topic, writer);
      const text = typeof req.body === 'string' ? req.body : '';
      if (text.trim() === '') return sendError(reply, 400, 'empty_body', 'request body is empty: send a JSON object, a JSON array of events or NDJSON');
      const rate = req.principal?.ingestRate;
      let parsed: ReturnType<typeof parseBody>;
      try {
        parsed = parseBody(text, req.headers['content-type']);
      } catch (err) {
        if (err instanceof InvalidEventError) {
          // Kept as a dead letter: one event of the caller's rate, so that malformed bodies are limited too.
          if (rate) limiter.take(req.principal!.id, rate, 1);
          await log.append(DEAD_LETTER_TOPIC, [deadLetter(topic, null, null, text.slice(0, 64 << 10), err.code, err.message)]);
        }
        throw err;
      }
      if (rate) limiter.take(req.principal!.id, rate, parsed.events.length);
      const batch = checkEvents(parsed.events, ingestRules(topic, (req.query as { key?: unknown } | undefined)?.key));
      const positions = batch.accepted.length > 0 ? await log.append(topic, batch.accepted.map((a) => a.record)) : [];
      const offsets = batch.accepted.map((a, i) => ({ index: a.index, ...positions[i]! }));
      if (batch.rejected.length > 0) {
        await log.append(DEAD_LETTER_TOPIC, batch.rejected.map((r) => deadLetter(topic, null, null, r.event, r.code, r.message)));
        const rejected = batch.rejected.map(({ event: _event, ...r }) => r);
        return sendError(reply, 422, 'invalid_events',
          `${batch.rejected.length} of ${parsed.events.length} events were rejected (first: ${batch.rejected[0]!.message}); the other ${batch.accepted.length} were appended`,
          { accepted: batch.accepted.length, offsets, rejected });
      }
      return { accepted: batch.accepted.length, offsets };
    });
  });

  app.get('/v1/views', (req) => ({ views: views.names().filter(readable(req)).map((name) => {
    const view = views.get(name);
    return { name, rows: view.size, positions: view.position(), watermark: view.watermark() };
  }) }));
  app.get<{ Params: { view: string; key: string } }>('/v1/views/:view/keys/:key', (req, reply) => {
    const view = views.get(req.params.view);
    const row = view.get(req.params.key);
    if (!row) throw new RivuletError('unknown_key', `view '${view.name}' has no row with key '${req.params.key}'`);
    // The row as of these positions of the view's topic (a header, so that the body stays the row).
    void reply.header('rivulet-positions', view.position().join(','));
    const watermark = view.watermark();
    if (watermark !== null) void reply.header('rivulet-watermark', String(watermark));
    return row;
  });
  app.get<{ Params: { view: string } }>('/v1/views/:view/rows', (req) => {
    const view = views.get(req.params.view);
    const q = ViewRowsQuery.safeParse(req.query);
    if (!q.success) throw invalidRequest(q.error, 'query');
    const { cursor, limit, ...range } = q.data;
    const positions = view.position();
    const watermark = view.watermark();
    const rows = view.range({ ...range, ...(cursor === undefined ? {} : { after: decodeCursor(cursor) }), limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { view: view.name, rows: page, positions, watermark, ...(rows.length > limit ? { cursor: encodeCursor(page.at(-1)!.key) } : {}) };
  });
  app.get<{ Params: { view: string } }>('/v1/views/:view/count', (req) => {
    const view = views.get(req.params.view);
    const q = ViewCountQuery.safeParse(req.query);
    if (!q.success) throw invalidRequest(q.error, 'query');
    return { view: view.name, count: view.count(q.data.prefix), positions: view.position(), watermark: view.watermark() };
  });

  registerSse(app, { log, views, stats: gateway }, {
    ...(options.gateway?.batch ? { batch: options.gateway.batch } : {}),
    ...(options.gateway?.heartbeatMs ? { heartbeatMs: options.gateway.heartbeatMs } : {}),
    ...(options.gateway?.maxBuffered ? { maxBuffered: options.gateway.maxBuffered } : {}),
  });
  app.get('/v1/ws', (_req, reply) => sendError(reply, 426, 'upgrade_required', 'GET /v1/ws is the WebSocket endpoint (docs/protocol.md): connect with a WebSocket client'));
  const settings = gatewaySettings({ ...options.gateway, maxFrameBytes });
  const gatewayDeps: GatewayDeps = { log, views, rates, engine, stats: gateway, tails, heartbeats, auth };
  const webSockets = acceptWebSockets(app.server, {
    path: '/v1/ws',
    maxPayload: 16 * maxFrameBytes,
    auth,
    onConnection: (socket, principal) => serveConnection(socket, principal, gatewayDeps, settings),
  });

  const address = await app.listen({ host: options.host, port: options.port });
  const port = (app.server.address() as { port: number }).port;
  return {
    url: address.replace('[::1]', 'localhost'),
    port,
    views,
    gateway,
    async close() {
      rates.stop();
      await Promise.all([webSockets.close(), app.close()]);
      await views.stop();
    },
  };
}
