import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { RivuletError } from '../core/errors.js';
import type { Log } from '../log/log.js';
import type { TopicRates } from './rates.js';
import type { ViewRegistry } from './views.js';
import { Filter, From } from './subscription.js';
import { TopicSubscription } from './topic-subscription.js';
import type { Authenticator, Principal } from './auth/authenticator.js';
import { Outlet, type GatewayStats } from './outlet.js';
import { atTime } from './auth/expiry.js';

/** WebSocket close code when the connection's token expired. */
const TOKEN_EXPIRED_CLOSE = 4001;
import { followView } from './view-feed.js';
import type { TopicTails } from './topic-tail.js';
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

/** What every connection of a server shares. */
export interface GatewayDeps {
  log: Log;
  views: ViewRegistry;
  rates: TopicRates;
  engine: Engine;
  stats: GatewayStats;
  /** The shared readers at the end of each topic. */
  tails: TopicTails;
  /** The server's heartbeat timer. */
  heartbeats: Heartbeats;
  auth: Authenticator;
}

/** {@link GatewayOptions} with the defaults applied: one object for all connections of a server. */
export interface GatewaySettings {
  batch: number;
  maxBuffered: number;
  maxFrameBytes: number;
  maxSubscriptions: number;
}

/** Applies the defaults of {@link GatewayOptions}. */
export function gatewaySettings(options: GatewayOptions = {}): GatewaySettings {
  return {
    batch: options.batch ?? 500,
    maxBuffered: options.maxBuffered ?? 4 << 20,
    maxFrameBytes: options.maxFrameBytes ?? 64 << 10,
    maxSubscriptions: options.maxSubscriptions ?? 100,
  };
}

export { wireRecord } from './subscription.js';

/** A subscription as the connection holds it. */
interface Held {
  stop(): void;
}

// Listeners shared by all connections (a listener per connection would be a closure per connection).
const connections = new WeakMap<WebSocket, Connection>();
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connections.get(this)?.message(data, isBinary);
}
function onPong(this: WebSocket): void {
  connections.get(this)?.outlet.sawLife();
}
function onClose(this: WebSocket): void {
  connections.get(this)?.closed();
}

/**
 * Serves one WebSocket connection of protocol v1 (docs/protocol.md): subscriptions to topics (from
 * earliest, latest, offsets, a time or the last N records; every `records` frame carries the positions
 * to resume from), to views (snapshot then changes) and to metrics; heartbeats. A malformed frame gets
 * an error frame; the connection stays open. `principal` is who opened it: each subscription needs
 * its scope.
 */
export function serveConnection(socket: WebSocket, principal: Principal, deps: GatewayDeps, settings: GatewaySettings): void {
  connections.set(socket, new Connection(socket, principal, deps, settings));
  socket.on('message', onMessage);
  socket.on('pong', onPong);
  socket.on('close', onClose);
}

class Connection {
  readonly outlet: Outlet;
  private readonly subs = new Map<string, Held>();
  private readonly cancelExpiry: (() => void) | undefined;

  constructor(private readonly socket: WebSocket, private readonly principal: Principal, private readonly deps: GatewayDeps, private readonly settings: GatewaySettings) {
    this.outlet = new Outlet(socket, settings.maxBuffered, deps.stats);
    deps.stats.add(socket);
    // Heartbeats: a frame the client can watch for, and a ping whose missing pong shows a dead peer.
    deps.heartbeats.add(this.outlet);
    // A token that expires ends the connection: its subscriptions were granted for the token's lifetime.
    if (principal.expiresAt !== undefined) {
      this.cancelExpiry = atTime(principal.expiresAt, () => {
        this.sendError(undefined, 'token_expired', 'the token of this connection expired; connect again with a new one');
        socket.close(TOKEN_EXPIRED_CLOSE, 'token_expired');
      });
    }
  }

  message(data: RawData, isBinary: boolean): void {
    this.outlet.sawLife();
    // A bug in handling one frame must never take the server down: answer with an error frame.
    try {
      this.frame(data, isBinary);
    } catch (err) {
      console.error('WebSocket frame failed:', err);
      this.sendError(undefined, 'internal', 'the server failed to handle the frame');
    }
  }

  closed(): void {
    this.deps.heartbeats.delete(this.outlet);
    this.deps.stats.delete(this.socket);
    this.cancelExpiry?.();
    for (const sub of this.subs.values()) sub.stop();
    this.subs.clear();
    connections.delete(this.socket);
  }

  private sendError(id: string | undefined, code: string, message: string): void {
    this.outlet.send({ type: 'error', ...(id ? { id } : {}), code, message });
  }

  private frame(data: RawData, isBinary: boolean): void {
    const { maxFrameBytes, maxSubscriptions } = this.settings;
    if (isBinary) return this.sendError(undefined, 'invalid_frame', 'frames must be JSON text');
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
    if (size > maxFrameBytes) return this.sendError(undefined, 'frame_too_large', `frame is ${size} bytes; the limit is ${maxFrameBytes} bytes; it was ignored`);
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      return this.sendError(undefined, 'invalid_frame', 'frame is not valid JSON');
    }
    const id = typeof (json as { id?: unknown } | null)?.id === 'string' ? (json as { id: string }).id : undefined;
    const schema = schemaOf(json);
    if (typeof schema === 'string') return this.sendError(id, 'invalid_frame', schema);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.sendError(id, 'invalid_frame', `invalid frame${issue ? ` at '${issue.path.join('.') || '(root)'}': ${issue.message}` : ''}`);
    }
    const frame = parsed.data;
    if (frame.type === 'unsubscribe') {
      this.subs.get(frame.id)?.stop();
      this.subs.delete(frame.id);
      return this.outlet.send({ type: 'unsubscribed', id: frame.id });
    }
    if (this.subs.has(frame.id)) return this.sendError(frame.id, 'duplicate_id', `subscription '${frame.id}' already exists on this connection`);
    if (this.subs.size >= maxSubscriptions) return this.sendError(frame.id, 'too_many_subscriptions', `a connection may hold ${maxSubscriptions} subscriptions; unsubscribe one first`);
    try {
      this.deps.auth.authorize(this.principal, 'topic' in frame ? { action: 'read', resource: frame.topic } : 'view' in frame ? { action: 'read', resource: frame.view } : { action: 'metrics' });
      if ('topic' in frame) {
        if (!this.deps.log.describeTopic(frame.topic)) throw new RivuletError('unknown_topic', `topic '${frame.topic}' does not exist`);
        const sub = new TopicSubscription(frame, this.outlet, { log: this.deps.log, tails: this.deps.tails, stats: this.deps.stats, batch: this.settings.batch });
        this.start(frame.id, sub, sub.signal, sub.run());
      } else if ('view' in frame) {
        const ac = new AbortController();
        const view = this.deps.views.get(frame.view);
        this.start(frame.id, { stop: () => ac.abort() }, ac.signal, followView(view, frame, { log: this.deps.log, outlet: this.outlet, stats: this.deps.stats, batch: this.settings.batch }, ac.signal));
      } else {
        this.start(frame.id, this.followMetrics(frame.id), undefined, Promise.resolve());
      }
    } catch (err) {
      this.failed(frame.id, err);
    }
  }

  /** Holds a running subscription; its failure ends it with an error frame. */
  private start(id: string, sub: Held, signal: AbortSignal | undefined, running: Promise<void>): void {
    this.subs.set(id, sub);
    running.catch((err: unknown) => {
      if (signal?.aborted || this.subs.get(id) !== sub) return;
      sub.stop();
      this.failed(id, err);
    });
  }

  private failed(id: string, err: unknown): void {
    this.subs.delete(id);
    if (err instanceof RivuletError) this.sendError(id, err.code, err.message);
    else this.sendError(id, 'internal', 'the subscription failed on the server');
  }

  /** Metrics are a gauge: a tick that finds the buffer full is skipped (the next one says it all). */
  private followMetrics(id: string): Held {
    const push = () => {
      if (!this.outlet.full()) this.outlet.send({ type: 'metrics', id, at: Date.now(), topics: this.deps.rates.snapshot(), pipelines: this.deps.engine.status() });
    };
    push();
    const timer = setInterval(push, 1000);
    return { stop: () => clearInterval(timer) };
  }
}
