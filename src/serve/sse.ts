import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RivuletError, UnknownTopicError } from '../core/errors.js';
import type { Log } from '../log/log.js';
import { atTime } from './auth/expiry.js';
import { Filter, followPositions, startPositions, type SubscribeFrom, type TopicFrame } from './subscription.js';

const Query = z.object({
  from: z.enum(['earliest', 'latest']).optional(),
  offsets: z.string().regex(/^\d+(,\d+)*$/, 'a comma-separated list of offsets, one per partition').optional(),
  time: z.string().optional(),
  last: z.coerce.number().int().positive().max(10_000).optional(),
  filter: z.string().optional(),
  // Read by access control (EventSource cannot send an Authorization header).
  access_token: z.string().optional(),
}).strict();

/** Settings of the Server-Sent Events route. */
export interface SseOptions {
  /** Records read per partition per event. Default 500. */
  batch?: number;
  /** Every this many ms a comment line keeps proxies from closing a quiet stream. Default 15,000. */
  heartbeatMs?: number;
}

/** One event of the stream: its id (the positions, for `Last-Event-ID`) only on records. */
function event(frame: TopicFrame): string {
  const id = frame.type === 'records' ? `id: ${frame.positions.join(',')}\n` : '';
  return `${id}event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`;
}

/**
 * `GET /v1/sse/topics/:topic`: a topic subscription as Server-Sent Events, for clients that cannot
 * use WebSockets — the same frames as protocol v1 (`records` with `positions`, `gap`), each `records`
 * event's id being its positions, so that a browser's `EventSource` resumes by itself after a dropped
 * connection (`Last-Event-ID`). Where it starts: `from=earliest|latest`, `offsets=4,0,7`, `time=…`,
 * `last=N`; `filter` is the JSON of a subscription filter.
 */
export function registerSse(app: FastifyInstance, log: Log, options: SseOptions = {}): void {
  // Open streams end when the server closes (they would hold its close forever otherwise).
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of open) ac.abort();
  });
  app.get<{ Params: { topic: string } }>('/v1/sse/topics/:topic', async (req, reply) => {
    const topic = req.params.topic;
    if (!log.describeTopic(topic)) throw new UnknownTopicError(topic);
    const q = Query.safeParse(req.query);
    if (!q.success) {
      const issue = q.error.issues[0];
      throw new RivuletError('invalid_subscription', `query${issue ? ` '${issue.path.join('.') || '(root)'}': ${issue.message}` : ' is invalid'}`);
    }
    let filter;
    if (q.data.filter !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(q.data.filter);
      } catch {
        throw new RivuletError('invalid_subscription', "'filter' is not JSON");
      }
      const f = Filter.safeParse(json);
      if (!f.success) {
        const issue = f.error.issues[0];
        throw new RivuletError('invalid_subscription', `filter${issue ? ` at '${issue.path.join('.') || '(root)'}': ${issue.message}` : ' is invalid'}`);
      }
      filter = f.data;
    }
    const resume = req.headers['last-event-id'];
    const offsets = typeof resume === 'string' && /^\d+(,\d+)*$/.test(resume) ? resume : q.data.offsets;
    const from: SubscribeFrom = offsets !== undefined ? { offsets: offsets.split(',').map(Number) }
      : q.data.time !== undefined ? { time: /^\d+$/.test(q.data.time) ? Number(q.data.time) : q.data.time }
        : q.data.last !== undefined ? { last: q.data.last } : (q.data.from ?? 'latest');
    const positions = await startPositions(log, topic, from);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const ac = new AbortController();
    open.add(ac);
    req.raw.on('close', () => ac.abort());
    res.write(`event: subscribed\ndata: ${JSON.stringify({ type: 'subscribed', topic, positions })}\n\n`);
    const heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), options.heartbeatMs ?? 15_000);
    heartbeat.unref();
    // A stream lasts no longer than the token that opened it.
    const expiresAt = req.principal?.expiresAt;
    const cancelExpiry = expiresAt === undefined ? undefined : atTime(expiresAt, () => {
      res.write(`event: error\ndata: ${JSON.stringify({ type: 'error', code: 'token_expired', message: 'the token of this stream expired; reconnect with a new one' })}\n\n`);
      ac.abort();
    });
    try {
      await followPositions(log, topic, positions, {
        batch: options.batch ?? 500,
        filter,
        signal: ac.signal,
        open: () => !res.destroyed,
        emit: async (frame) => {
          // Back-pressure: a slow reader pauses its subscription, not the server's memory.
          if (!res.write(event(frame))) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
        },
      });
    } catch (err) {
      if (!ac.signal.aborted) res.write(`event: error\ndata: ${JSON.stringify({ type: 'error', code: err instanceof RivuletError ? err.code : 'internal', message: err instanceof RivuletError ? err.message : 'the subscription failed on the server' })}\n\n`);
    } finally {
      open.delete(ac);
      clearInterval(heartbeat);
      cancelExpiry?.();
      res.end();
    }
  });
}
