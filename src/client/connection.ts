import { RivuletClientError } from './errors.js';

/**
 * The part of the WebSocket API the client uses: the browser's, Node 22's global, or the `ws`
 * package's. (Handlers take `never`, so that every implementation's event types fit.)
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `WebSocket` from the `ws` package in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A server frame, loosely typed: each subscription reads the fields its type has. */
export type ServerFrame = { type: string; id?: string; [field: string]: unknown };

/** A subscription as the connection sees it: what to send at every (re)connect, and where its frames go. */
export interface ConnectionSubscriber {
  /** The subscribe frame for this connection: it resumes from where the subscription is. */
  subscribeFrame(): Record<string, unknown>;
  onFrame(frame: ServerFrame): void;
  /** The connection dropped; a new one follows unless the client was closed. */
  onDisconnect(): void;
}

/** Settings of {@link Connection}, with defaults applied by `createClient`. */
export interface ConnectionOptions {
  wsUrl: string;
  token: () => Promise<string | undefined>;
  WebSocket: WebSocketConstructor;
  initialDelayMs: number;
  maxDelayMs: number;
  reconnect: boolean;
  /** No frame for this long (the server sends heartbeats) means the connection is dead. */
  idleTimeoutMs: number;
  onStatus: (status: ConnectionStatus) => void;
}

/** Where the client's WebSocket connection is. */
export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

const OPEN = 1;

/**
 * The client's one WebSocket: opened when the first subscription starts, closed when the last ends,
 * reopened after a drop with exponential backoff (with jitter, so that many clients of a restarted
 * server do not come back at the same instant). On every open it subscribes all subscriptions again,
 * each from where it is, which is what makes a reconnect resume without gaps or duplicates.
 */
export class Connection {
  private socket: WebSocketLike | undefined;
  private readonly subscribers = new Map<string, ConnectionSubscriber>();
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private opening = false;
  private nextId = 0;

  constructor(private readonly options: ConnectionOptions) {}

  /** Adds a subscription; its frame is sent now when the connection is open, else when it opens. */
  add(subscriber: ConnectionSubscriber): string {
    if (this.closed) throw new RivuletClientError('client_closed', 'the client was closed');
    const id = `s${++this.nextId}`;
    this.subscribers.set(id, subscriber);
    if (this.socket?.readyState === OPEN) this.send({ ...subscriber.subscribeFrame(), id });
    else if (!this.socket && !this.retryTimer && !this.opening) void this.open();
    return id;
  }

  remove(id: string): void {
    if (!this.subscribers.delete(id)) return;
    if (this.socket?.readyState === OPEN) this.send({ type: 'unsubscribe', id });
    if (this.subscribers.size === 0) {
      this.shutdown();
      this.attempt = 0;
      this.options.onStatus('idle');
    }
  }

  close(): void {
    this.closed = true;
    this.subscribers.clear();
    this.shutdown();
    this.options.onStatus('closed');
  }

  /** Closes the socket and any pending reconnect, without ending the client. */
  private shutdown(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onopen = null;
      // ws emits 'error' when a CONNECTING socket is closed: without a listener, that throws.
      socket.onerror = () => undefined;
      socket.close(1000, 'client closed');
    }
  }

  private send(frame: Record<string, unknown>): void {
    this.socket?.send(JSON.stringify(frame));
  }

  private async open(): Promise<void> {
    this.options.onStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token: string | undefined;
    this.opening = true;
    try {
      token = await this.options.token();
    } catch {
      return this.retry();
    } finally {
      this.opening = false;
    }
    if (this.closed || this.subscribers.size === 0 || this.socket) return;
    const url = token === undefined ? this.options.wsUrl : `${this.options.wsUrl}?access_token=${encodeURIComponent(token)}`;
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(url);
    } catch {
      return this.retry();
    }
    this.socket = socket;
    // A handshake that never completes is as dead as a silent connection.
    this.touch();
    socket.onopen = () => {
      this.attempt = 0;
      this.options.onStatus('open');
      this.touch();
      for (const [id, sub] of this.subscribers) this.send({ ...sub.subscribeFrame(), id });
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (this.socket !== socket) return; // a socket replaced for silence may still deliver (ws)
      this.touch();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(event.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.id !== undefined) this.subscribers.get(frame.id)?.onFrame(frame);
    };
    // Errors are followed by a close, which is where the reconnect happens.
    socket.onerror = () => undefined;
    socket.onclose = () => this.dropped(socket);
  }

  /** `socket` closed or went silent: tell the subscriptions, and reconnect. */
  private dropped(socket: WebSocketLike): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    clearTimeout(this.idleTimer);
    for (const sub of this.subscribers.values()) sub.onDisconnect();
    this.retry();
  }

  /** A frame arrived: the connection is alive for another `idleTimeoutMs`. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      // Silent for two heartbeats: a dead peer or network. Drop it; onclose reconnects.
      const socket = this.socket;
      if (!socket) return;
      socket.onclose = null;
      socket.close();
      this.dropped(socket);
    }, this.options.idleTimeoutMs);
  }

  private retry(): void {
    if (this.closed || !this.options.reconnect || this.subscribers.size === 0) {
      if (!this.closed && this.subscribers.size > 0) this.options.onStatus('closed');
      return;
    }
    const base = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2);
    this.options.onStatus('reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, delay);
  }
}
