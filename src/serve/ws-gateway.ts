import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { RivuletError } from '../core/errors.js';
import type { Log } from '../log/log.js';
import type { TopicRates } from './rates.js';
import type { ViewRegistry } from './views.js';
import { compileFilter, Filter, followPositions, From, startPositions } from './subscription.js';
import { Outlet, type GatewayStats } from './outlet.js';
import type { Permission } from './auth/scopes.js';
import { atTime } from './auth/expiry.js';

/** WebSocket close code when the connection's token expired. */
const TOKEN_EXPIRED_CLOSE = 4001;
import { followView } from './view-feed.js';
import type { TailMember, TopicTails } from './topic-tail.js';
import type { Heartbeats } from './heartbeats.js';
import type { Engine } from '../engine/engine.js';

const Id = z.string().min(1).max(100);
const TopicSubscribe = z.object({
  type: z.literal('subscribe'), id: Id, topic: z.string(), from: From.default('latest'), filter: Filter.optional(),
  flow: z.enum(['pause', 'drop-oldest', 'disconnect']).default('pause'),
}).strict();
const ViewSubscribe = z.object({
  type: z.literal('subscribe'), id: Id, view: z.string(), filter: Filter.optional(),
  from: z.object({ offsets: z.array(z.number().int().nonnegative()) }).strict().optional(),
  flow: z.enum(['conflate', 'disconnect']).default('conflate'),
}).strict();
const MetricsSubscribe = z.object({ type: z.literal('subscribe'), id: Id, metrics: z.literal(true) }).strict();
const Unsubscribe = z.object({ type: z.literal('unsubscribe'), id: Id }).strict();
type ClientFrame = z.infer<typeof TopicSubscribe> | z.infer<typeof ViewSubscribe> | z.infer<typeof MetricsSubscribe> | z.infer<typeof Unsubscribe>;

/** Picks the schema a frame claims to follow, so that a validation error names the right field. */
function schemaOf(json: unknown): z.ZodType<ClientFrame> | string {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return 'a frame must be a JSON object';
  const f = json as Record<string, unknown>;
  if (f.type === 'unsubscribe') return Unsubscribe;
  if (f.type !== 'subscribe') return `unknown frame type ${JSON.stringify(f.type)}; expected 'subscribe' or 'unsubscribe'`;
  if ('topic' in f) return TopicSubscribe;
  if ('view' in f) return ViewSubscribe;
  if ('metrics' in f) return MetricsSubscribe;
  return "a subscribe frame needs one of 'topic', 'view' or 'metrics'";
}

/** Limits of the WebSocket gateway. */
export interface GatewayOptions {
  /** Records read per partition per frame. Default 500. */
  batch?: number;
  /**
   * The bound of each connection's send buffer, in bytes (default 4 MiB): above it, every subscription
   * of the connection applies its flow policy (pause, drop oldest, conflate or disconnect).
   */
  maxBuffered?: number;
  /**
   * Largest client frame handled, in bytes (default 64 KiB): a larger one gets a `frame_too_large`
   * error frame and is ignored. Frames above 16 times this close the connection (code 1009) before
   * they are read whole.
   */
  maxFrameBytes?: number;
  /** Subscriptions one connection may hold at once. Default 100. */
  maxSubscriptions?: number;
  /**
   * Every this many ms the server sends a `heartbeat` frame and a WebSocket ping; a connection that
   * answered no ping for two intervals is closed. Default 15,000.
   */
  heartbeatMs?: number;
}

interface Deps {
  log: Log;
  views: ViewRegistry;
  rates: TopicRates;
  engine: Engine;
  stats: GatewayStats;
  /** The shared readers at the end of each topic. */
  tails: TopicTails;
  /** The server's heartbeat timer. */
  heartbeats: Heartbeats;
  /** Throws `AuthError` when the connection's caller may not do `need` (checked per subscription). */
  authorize: (need: Permission) => void;
  /** When the caller's token expires (epoch ms): the connection closes then. */
  expiresAt?: number | undefined;
}

export { wireRecord } from './subscription.js';

/**
 * Serves one WebSocket connection of protocol v1 (docs/protocol.md): subscriptions to topics (from
 * earliest, latest, offsets, a time or the last N records; every `records` frame carries the positions
 * to resume from), to views (snapshot then changes) and to metrics; heartbeats. A malformed frame gets
 * an error frame; the connection stays open.
 */
export function serveConnection(socket: WebSocket, deps: Deps, options: GatewayOptions = {}): void {
  const subs = new Map<string, AbortController>();
  const batch = options.batch ?? 500;
  const outlet = new Outlet(socket, options.maxBuffered ?? 4 << 20, deps.stats);
  deps.stats.add(socket);
  const send = (frame: unknown) => outlet.send(frame);
  const sendError = (id: string | undefined, code: string, message: string) => send({ type: 'error', ...(id ? { id } : {}), code, message });

  const followTopic = async (frame: z.infer<typeof TopicSubscribe>, signal: AbortSignal) => {
    const { id, topic, flow } = frame;
    const positions = await startPositions(deps.log, topic, frame.from);
    send({ type: 'subscribed', id, topic, positions });
    // The subscription reads by itself until it has caught up; then it joins the topic's shared tail,
    // and reads by itself again whenever it falls behind.
    const tail = deps.tails.of(topic);
    const passes = compileFilter(frame.filter);
    let left: () => void = () => undefined;
    const member: TailMember = {
      prefix: Buffer.from(`{"type":"records","id":${JSON.stringify(id)}`),
      ...(passes ? { filter: { passes, ...(frame.filter?.keys ? { keys: new Set(frame.filter.keys) } : {}) } } : {}),
      advance(next) {
        for (let p = 0; p < next.length; p++) positions[p] = next[p]!;
      },
      deliver(bytes, next) {
        if (signal.aborted || !outlet.open() || outlet.full()) {
          left();
          return false;
        }
        outlet.sendRaw(bytes);
        for (let p = 0; p < next.length; p++) positions[p] = next[p]!;
        return true;
      },
      dropped: () => left(),
    };
    signal.addEventListener('abort', () => tail.leave(member), { once: true });
    const joinTail = async (): Promise<'joined' | 'retry' | 'wait'> => {
      const at = tail.position();
      if (at !== undefined && positions.some((o, p) => o > at[p]!)) {
        // Ahead of the tail somewhere: once it has moved on, meet it by reading up to it.
        await tail.nextFrame(signal);
        return 'retry';
      }
      if (at !== undefined && positions.some((o, p) => o < at[p]!)) return 'retry';
      return tail.join(member, positions) ? 'joined' : 'retry';
    };
    while (!signal.aborted && outlet.open()) {
      await followPositions(deps.log, topic, positions, {
        batch,
        filter: frame.filter,
        signal,
        open: () => outlet.open(),
        emit: async (out) => {
          send({ ...out, id });
          if (out.type !== 'records' || !outlet.full()) return;
          if (flow === 'disconnect') return outlet.disconnectSlow(id);
          await outlet.drained(signal);
          if (flow === 'drop-oldest' && !signal.aborted) skipAhead(id, topic, positions);
        },
        caughtUp: joinTail,
        limitTo: () => tail.position(),
      });
      if (signal.aborted || !outlet.open()) return;
      await new Promise<void>((resolve) => { left = resolve; });
      left = () => undefined;
      if (signal.aborted || !outlet.open()) return;
      // It left the tail because its buffer is full: the policy decides what follows.
      if (outlet.full()) {
        if (flow === 'disconnect') return outlet.disconnectSlow(id);
        await outlet.drained(signal);
        if (flow === 'drop-oldest' && !signal.aborted) skipAhead(id, topic, positions);
      }
    }
  };

  // `drop-oldest`: what piled up while the client was behind is skipped, but for the newest `batch`
  // records of each partition; the client learns what it missed from a gap frame.
  const skipAhead = (id: string, topic: string, positions: number[]) => {
    const ends = deps.log.endOffsets(topic);
    for (let p = 0; p < positions.length; p++) {
      const to = ends[p]! - batch;
      if (to <= positions[p]!) continue;
      send({ type: 'gap', id, partition: p, from: positions[p], to, reason: 'slow_consumer' });
      deps.stats.droppedRecords += to - positions[p]!;
      positions[p] = to;
    }
  };

  // Metrics are a gauge: a tick that finds the buffer full is skipped (the next one says it all).
  const followMetrics = (id: string, signal: AbortSignal) => {
    const push = () => {
      if (!outlet.full()) send({ type: 'metrics', id, at: Date.now(), topics: deps.rates.snapshot(), pipelines: deps.engine.status() });
    };
    push();
    const timer = setInterval(push, 1000);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  };

  const maxFrameBytes = options.maxFrameBytes ?? 64 << 10;
  const maxSubscriptions = options.maxSubscriptions ?? 100;
  const onFrame = (data: RawData, isBinary: boolean): void => {
    if (isBinary) return sendError(undefined, 'invalid_frame', 'frames must be JSON text');
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
    if (size > maxFrameBytes) return sendError(undefined, 'frame_too_large', `frame is ${size} bytes; the limit is ${maxFrameBytes} bytes; it was ignored`);
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      return sendError(undefined, 'invalid_frame', 'frame is not valid JSON');
    }
    const id = typeof (json as { id?: unknown } | null)?.id === 'string' ? (json as { id: string }).id : undefined;
    const schema = schemaOf(json);
    if (typeof schema === 'string') return sendError(id, 'invalid_frame', schema);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return sendError(id, 'invalid_frame', `invalid frame${issue ? ` at '${issue.path.join('.') || '(root)'}': ${issue.message}` : ''}`);
    }
    const frame = parsed.data;
    if (frame.type === 'unsubscribe') {
      subs.get(frame.id)?.abort();
      subs.delete(frame.id);
      return send({ type: 'unsubscribed', id: frame.id });
    }
    if (subs.has(frame.id)) return sendError(frame.id, 'duplicate_id', `subscription '${frame.id}' already exists on this connection`);
    if (subs.size >= maxSubscriptions) return sendError(frame.id, 'too_many_subscriptions', `a connection may hold ${maxSubscriptions} subscriptions; unsubscribe one first`);
    const ac = new AbortController();
    subs.set(frame.id, ac);
    const fail = (err: unknown) => {
      subs.delete(frame.id);
      ac.abort();
      if (err instanceof RivuletError) sendError(frame.id, err.code, err.message);
      else sendError(frame.id, 'internal', 'the subscription failed on the server');
    };
    try {
      deps.authorize('topic' in frame ? { action: 'read', resource: frame.topic } : 'view' in frame ? { action: 'read', resource: frame.view } : { action: 'metrics' });
      if ('topic' in frame) {
        if (!deps.log.describeTopic(frame.topic)) throw new RivuletError('unknown_topic', `topic '${frame.topic}' does not exist`);
        followTopic(frame, ac.signal).catch((err: unknown) => {
          if (!ac.signal.aborted) fail(err);
        });
      } else if ('view' in frame) {
        followView(deps.views.get(frame.view), frame, { log: deps.log, outlet, stats: deps.stats, batch }, ac.signal).catch((err: unknown) => {
          if (!ac.signal.aborted) fail(err);
        });
      } else {
        followMetrics(frame.id, ac.signal);
      }
    } catch (err) {
      fail(err);
    }
  };

  socket.on('message', (data, isBinary) => {
    outlet.sawLife();
    // A bug in handling one frame must never take the server down: answer with an error frame.
    try {
      onFrame(data, isBinary);
    } catch (err) {
      console.error('WebSocket frame failed:', err);
      sendError(undefined, 'internal', 'the server failed to handle the frame');
    }
  });
  // Heartbeats: a frame the client can watch for, and a ping whose missing pong shows a dead peer.
  socket.on('pong', () => outlet.sawLife());
  deps.heartbeats.add(outlet);

  // A token that expires ends the connection: its subscriptions were granted for the token's lifetime.
  const cancelExpiry = deps.expiresAt === undefined ? undefined : atTime(deps.expiresAt, () => {
    sendError(undefined, 'token_expired', 'the token of this connection expired; connect again with a new one');
    socket.close(TOKEN_EXPIRED_CLOSE, 'token_expired');
  });

  socket.on('close', () => {
    deps.heartbeats.delete(outlet);
    cancelExpiry?.();
    for (const ac of subs.values()) ac.abort();
    subs.clear();
  });
}
