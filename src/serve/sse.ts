import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { RivuletError, UnknownTopicError } from '../core/errors.js';
import type { Log } from '../log/log.js';
import { atTime } from './auth/expiry.js';
import type { FrameSink, GatewayStats } from './outlet.js';
import { Filter, followPositions, startPositions, type SubscribeFrom, type SubscriptionFilter, type TopicFrame } from './subscription.js';
import { followView } from './view-feed.js';
import type { ViewRegistry } from './views.js';

const Query = z.object({
  from: z.enum(['earliest', 'latest']).optional(),
  offsets: z.string().regex(/^\d+(,\d+)*$/, 'a comma-separated list of offsets, one per partition').optional(),
  time: z.string().optional(),
  last: z.coerce.number().int().positive().max(10_000).optional(),
  filter: z.string().optional(),
  // Read by access control (EventSource cannot send an Authorization header).
  access_token: z.string().optional(),
}).strict();

const ViewQuery = z.object({
  offsets: z.string().regex(/^\d+(,\d+)*$/, 'a comma-separated list of offsets, one per partition').optional(),
  filter: z.string().optional(),
  flow: z.enum(['conflate', 'disconnect']).optional(),
  access_token: z.string().optional(),
}).strict();

/** Settings of the Server-Sent Events routes. */
export interface SseOptions {
  /** Records (or view rows) per event. Default 500. */
  batch?: number;
  /** Bytes waiting in a stream above which it pauses (topics) or its flow policy acts (views). Default 4 MiB. */
  maxBuffered?: number;
  /** Every this many ms a comment line keeps proxies from closing a quiet stream. Default 15,000. */
  heartbeatMs?: number;
}

/** One event of the stream; frames that carry positions carry them as the event id, for `Last-Event-ID`. */
function event(frame: { type: string; positions?: readonly number[] | undefined; [field: string]: unknown }): string {
  // Only a frame after which the reader holds everything up to its positions may set the id that
  // EventSource resumes from: not 'subscribed', 'resumed' (the changes since follow), nor a snapshot part but the last.
  const resumable = frame.type === 'records' || frame.type === 'changes' || (frame.type === 'snapshot' && frame.done === true);
  const id = frame.positions !== undefined && resumable ? `id: ${frame.positions.join(',')}\n` : '';
  return `${id}event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`;
}

function invalid(what: string, issue: z.core.$ZodIssue | undefined): RivuletError {
  return new RivuletError('invalid_subscription', `${what}${issue ? ` '${issue.path.join('.') || '(root)'}': ${issue.message}` : ' is invalid'}`);
}

/** The `filter` query parameter: the JSON of a subscription filter. */
function parseFilter(text: string | undefined): SubscriptionFilter | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RivuletError('invalid_subscription', "'filter' is not JSON");
  }
  const f = Filter.safeParse(json);
  if (!f.success) throw invalid('filter at', f.error.issues[0]);
  return f.data;
}

/** Positions to resume from: `Last-Event-ID` (what EventSource sends after a drop), else `offsets`. */
function resumeOffsets(lastEventId: string | string[] | undefined, offsets: string | undefined): number[] | undefined {
  const text = typeof lastEventId === 'string' && /^\d+(,\d+)*$/.test(lastEventId) ? lastEventId : offsets;
  return text === undefined ? undefined : text.split(',').map(Number);
}

/**
 * A subscription's frames as events of a stream, with the stream's write buffer as the bound that
 * pauses a topic subscription and that a view's flow policy acts on.
 */
class SseSink implements FrameSink {
  constructor(private readonly res: ServerResponse, private readonly maxBuffered: number, private readonly stats: GatewayStats, private readonly end: () => void) {}

  open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  send(frame: { type: string; positions?: readonly number[]; [field: string]: unknown }): void {
    if (this.open()) this.res.write(event(frame));
  }

  full(): boolean {
    return this.res.writableLength > this.maxBuffered;
  }

  async drained(signal: AbortSignal): Promise<void> {
    while (this.full() && this.open() && !signal.aborted) await new Promise((r) => setTimeout(r, 10));
  }

  disconnectSlow(id: string): void {
    if (!this.open()) return;
    this.stats.slowConsumerDisconnects++;
    this.send({ type: 'error', id, code: 'slow_consumer', message: `the stream fell more than ${this.maxBuffered} bytes behind; its policy is 'disconnect'` });
    this.end();
  }
}

/** What the Server-Sent Events routes read from. */
export interface SseDeps {
  log: Log;
  views: ViewRegistry;
  stats: GatewayStats;
}

/**
 * Server-Sent Events, for clients that cannot use WebSockets — the same subscriptions and frames as
 * protocol v1, each frame that carries positions having them as its event id, so that a browser's
 * `EventSource` resumes by itself after a dropped connection (`Last-Event-ID`):
 *
 * - `GET /v1/sse/topics/:topic`: records from `from=earliest|latest`, `offsets=4,0,7`, `time=…` or
 *   `last=N`; a reader more than `maxBuffered` behind pauses its subscription;
 * - `GET /v1/sse/views/:view`: the snapshot, then changes (conflated by key while the reader is slow,
 *   or `flow=disconnect`); resumed from `offsets` with the changes since.
 *
 * `filter` is the JSON of a subscription filter.
 */
export function registerSse(app: FastifyInstance, deps: SseDeps, options: SseOptions = {}): void {
  const { log } = deps;
  const batch = options.batch ?? 500;
  const maxBuffered = options.maxBuffered ?? 4 << 20;
  // Open streams end when the server closes (they would hold its close forever otherwise).
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of open) ac.abort();
  });

  /** Starts the event stream of a request; `run` streams until the signal aborts or the reader leaves. */
  async function stream(req: FastifyRequest, reply: FastifyReply, run: (res: ServerResponse, signal: AbortSignal, end: () => void) => Promise<void>): Promise<void> {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const ac = new AbortController();
    open.add(ac);
    req.raw.on('close', () => ac.abort());
    const heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    // A stream lasts no longer than the token that opened it.
    const expiresAt = req.principal?.expiresAt;
    const cancelExpiry = expiresAt === undefined ? undefined : atTime(expiresAt, () => {
      res.write(event({ type: 'error', code: 'token_expired', message: 'the token of this stream expired; reconnect with a new one' }));
      ac.abort();
    });
    try {
      await run(res, ac.signal, () => ac.abort());
    } catch (err) {
      if (!ac.signal.aborted) res.write(event({ type: 'error', code: err instanceof RivuletError ? err.code : 'internal', message: err instanceof RivuletError ? err.message : 'the subscription failed on the server' }));
    } finally {
      open.delete(ac);
      clearInterval(heartbeat);
      cancelExpiry?.();
      res.end();
      // A reader that stopped reading never takes what is still buffered: cut it off, as a WebSocket
      // peer that does not answer a close is.
      if (!res.writableFinished) {
        const cut = setTimeout(() => res.destroy(), 1000);
        cut.unref();
        res.once('close', () => clearTimeout(cut));
      }
    }
  }

  app.get<{ Params: { topic: string } }>('/v1/sse/topics/:topic', async (req, reply) => {
    const topic = req.params.topic;
    if (!log.describeTopic(topic)) throw new UnknownTopicError(topic);
    const q = Query.safeParse(req.query);
    if (!q.success) throw invalid('query', q.error.issues[0]);
    const filter = parseFilter(q.data.filter);
    const offsets = resumeOffsets(req.headers['last-event-id'], q.data.offsets);
    const from: SubscribeFrom = offsets !== undefined ? { offsets }
      : q.data.time !== undefined ? { time: /^\d+$/.test(q.data.time) ? Number(q.data.time) : q.data.time }
        : q.data.last !== undefined ? { last: q.data.last } : (q.data.from ?? 'latest');
    const positions = await startPositions(log, topic, from);
    await stream(req, reply, async (res, signal, end) => {
      const sink = new SseSink(res, maxBuffered, deps.stats, end);
      sink.send({ type: 'subscribed', topic, positions });
      await followPositions(log, topic, positions, {
        batch,
        filter,
        signal,
        open: () => sink.open(),
        emit: async (frame: TopicFrame) => {
          // Back-pressure: a slow reader pauses its subscription, not the server's memory.
          sink.send(frame);
          if (sink.full()) await sink.drained(signal);
        },
      });
    });
  });

  app.get<{ Params: { view: string } }>('/v1/sse/views/:view', async (req, reply) => {
    const view = deps.views.get(req.params.view);
    const q = ViewQuery.safeParse(req.query);
    if (!q.success) throw invalid('query', q.error.issues[0]);
    const filter = parseFilter(q.data.filter);
    const offsets = resumeOffsets(req.headers['last-event-id'], q.data.offsets);
    await stream(req, reply, async (res, signal, end) => {
      const sink = new SseSink(res, maxBuffered, deps.stats, end);
      await followView(view, { id: 'view', filter, ...(offsets ? { from: { offsets } } : {}), flow: q.data.flow ?? 'conflate' }, { log, outlet: sink, stats: deps.stats, batch }, signal);
      // The view's changes go on until the reader leaves or the server closes.
      if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    });
  });
}
