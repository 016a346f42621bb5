import type { WebSocket } from 'ws';
import type { Heartbeat } from './heartbeats.js';

/**
 * What a subscription does when its connection's send buffer is full (docs/protocol.md, "Flow
 * control"): `pause` stops reading for it until the buffer drains (topics; nothing is lost),
 * `drop-oldest` skips what piled up meanwhile and goes on near the newest records, telling the
 * client with a `gap` frame (topics), `conflate` keeps only the latest change per key until the
 * buffer drains (views), `disconnect` closes the connection with `slow_consumer`.
 */
export type FlowPolicy = 'pause' | 'drop-oldest' | 'conflate' | 'disconnect';

/** WebSocket close code for a client closed because it read too slowly (4000–4999 are the application's). */
export const SLOW_CONSUMER_CLOSE = 4008;

/**
 * Counters of the WebSocket gateway across connections, for `GET /metrics` and for tests that check
 * that a slow client costs the server bounded memory.
 */
export class GatewayStats {
  private readonly sockets = new Set<WebSocket>();
  /** Records skipped by `drop-oldest` subscriptions. */
  droppedRecords = 0;
  /** View changes replaced by a later change of their key before being sent (`conflate`). */
  conflatedChanges = 0;
  /** Connections closed with `slow_consumer`. */
  slowConsumerDisconnects = 0;
  /** Topic subscriptions served by a shared tail (see `TopicTail`), set by the server. */
  sharedTailSubscriptions: () => number = () => 0;

  add(socket: WebSocket): void {
    this.sockets.add(socket);
  }

  delete(socket: WebSocket): void {
    this.sockets.delete(socket);
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Bytes waiting in the connections' send buffers. */
  bufferedBytes(): number {
    let n = 0;
    for (const s of this.sockets) n += s.bufferedAmount;
    return n;
  }

  /** The largest send buffer of one connection. */
  maxBufferedBytes(): number {
    let n = 0;
    for (const s of this.sockets) n = Math.max(n, s.bufferedAmount);
    return n;
  }
}

/**
 * Where a subscription's frames go, with the state of its send buffer: a WebSocket connection
 * ({@link Outlet}) or a Server-Sent Events stream. Flow policies act on `full()`.
 */
export interface FrameSink {
  open(): boolean;
  send(frame: unknown): void;
  /** Whether more is buffered for the peer than the bound allows. */
  full(): boolean;
  /** Resolves once the buffer is back under the bound, or the sink or `signal` ended. */
  drained(signal: AbortSignal): Promise<void>;
  /** Ends the connection of subscription `id`, which fell behind with policy `disconnect`. */
  disconnectSlow(id: string): void;
}

/**
 * The sending side of one WebSocket connection: frames out, whether its send buffer is over the
 * bound, waiting for it to drain, and closing it for a slow reader.
 */
export class Outlet implements FrameSink, Heartbeat {
  private closing = false;
  // Heartbeats: a pong, any frame from the client, or its socket buffer going down proves the peer
  // alive (a slow reader whose ping waits behind megabytes of records is not dead); two ticks
  // without any close it.
  private alive = true;
  private quietTicks = 0;
  private lastBuffered = 0;

  constructor(private readonly socket: WebSocket, private readonly maxBuffered: number, private readonly stats: GatewayStats) {}

  open(): boolean {
    return this.socket.readyState === this.socket.OPEN && !this.closing;
  }

  /** The peer answered a ping or sent a frame. */
  sawLife(): void {
    this.alive = true;
  }

  beat(): void {
    if (this.socket.bufferedAmount < this.lastBuffered) this.alive = true;
    this.lastBuffered = this.socket.bufferedAmount;
    this.quietTicks = this.alive ? 0 : this.quietTicks + 1;
    if (this.quietTicks >= 2) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.send({ type: 'heartbeat', at: Date.now() });
    this.socket.ping();
  }

  send(frame: unknown): void {
    if (this.open()) this.socket.send(JSON.stringify(frame));
  }

  /** Sends a frame already encoded as JSON text (shared by many connections: see `TopicTail`). */
  sendRaw(frame: Buffer): void {
    if (this.open()) this.socket.send(frame, { binary: false });
  }

  /** Whether more is buffered for the peer than the bound allows: what a {@link FlowPolicy} acts on. */
  full(): boolean {
    return this.socket.bufferedAmount > this.maxBuffered;
  }

  /** Resolves once the send buffer is back under the bound, or the connection or `signal` ended. */
  async drained(signal: AbortSignal): Promise<void> {
    while (this.full() && !signal.aborted && this.open()) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Closes the connection of a subscription with policy `disconnect` that fell behind: an error frame
   * naming it, then a close with code 4008; a peer that does not read even that is cut off after
   * `graceMs`, so that its buffer is freed.
   */
  disconnectSlow(id: string, graceMs = 5_000): void {
    if (this.closing) return;
    this.send({ type: 'error', id, code: 'slow_consumer', message: `subscription '${id}' fell more than ${this.maxBuffered} bytes behind; its policy is 'disconnect'` });
    this.closing = true;
    this.stats.slowConsumerDisconnects++;
    this.socket.close(SLOW_CONSUMER_CLOSE, 'slow_consumer');
    const kill = setTimeout(() => this.socket.terminate(), graceMs);
    kill.unref();
    this.socket.once('close', () => clearTimeout(kill));
  }
}
