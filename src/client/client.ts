import { Connection, type ConnectionStatus, type ServerFrame, type WebSocketConstructor } from './connection.js';
import { RivuletClientError } from './errors.js';
import type { Filter, From, Gap, TopicRecord, TopicTypes, ViewChange, ViewRow } from './types.js';

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Base URL of a Rivulet: `http://localhost:7070`, or `location.origin` in a page it serves. */
  url: string;
  /**
   * An API key or JWT (docs/api.md, "Access control"), or a function giving one, called before every
   * request and (re)connection: for tokens that expire and are renewed.
   */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** The WebSocket class where the platform has none: in Node 20, `WebSocket` from the `ws` package. Default: `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Reconnecting after a dropped connection: the first delay (default 250 ms), doubled per failed
   * attempt up to `maxDelayMs` (default 10 s), with jitter. `false`: do not reconnect.
   */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number } | false;
  /** A connection without any frame for this long is taken for dead and replaced (the server sends a heartbeat every 15 s). Default 35,000. */
  idleTimeoutMs?: number;
  /** Called when the WebSocket connection's status changes, e.g. to show "live" / "reconnecting…". */
  onStatus?: (status: ConnectionStatus) => void;
}

/** Options of {@link RivuletClient.subscribe}. */
export interface TopicSubscribeOptions<T> {
  /** Where to start the first time (default `'latest'`); after a reconnection it goes on where it was. */
  from?: From;
  filter?: Filter;
  /** What the server does when this client reads too slowly (docs/protocol.md, "Flow control"). Default `'pause'`. */
  flow?: 'pause' | 'drop-oldest' | 'disconnect';
  /** Records in the order of each partition, a batch at a time. */
  onRecords: (records: TopicRecord<T>[]) => void;
  /** Records the subscription will not get (retention removed them, or `drop-oldest` skipped them). */
  onGap?: (gap: Gap) => void;
  /** The server refused or ended the subscription (`unknown_topic`, `forbidden`…): it is over. */
  onError?: (error: RivuletClientError) => void;
}

/** Options of {@link RivuletClient.subscribeView}. */
export interface ViewSubscribeOptions<T> {
  filter?: Filter;
  /** Default `'conflate'`: a slow client gets the latest change per key. */
  flow?: 'conflate' | 'disconnect';
  /** Called after a snapshot and after each batch of changes, with every row the client holds and the changes (empty after a snapshot). */
  onChange: (rows: ReadonlyMap<string, ViewRow<T>>, changes: ViewChange<T>[]) => void;
  onError?: (error: RivuletClientError) => void;
}

/** A live subscription: where it is, and how to end it. */
export interface Subscription {
  /** The next offset per partition: everything before it has been handed to the handler. */
  readonly positions: readonly number[] | undefined;
  close(): void;
}

/** A live view subscription: its rows as the server last sent them. */
export interface ViewSubscription<T> extends Subscription {
  readonly rows: ReadonlyMap<string, ViewRow<T>>;
  /** The event time the rows are complete up to (see docs/api.md, "Views"), or null. */
  readonly watermark: number | null;
}

/** A metrics frame: see docs/protocol.md, "Metrics". */
export interface Metrics {
  /** Epoch ms. */
  at: number;
  topics: { topic: string; recordsPerSecond: number; endOffsets: number[] }[];
  pipelines: { pipeline: string; state: string; watermark: number | null; eventsIn: number; recordsOut: number; lateEvents: number; positions: Record<string, number[]>; error?: string }[];
}

/** The answer of an ingest request. */
export interface IngestResult {
  accepted: number;
  offsets: { index: number; partition: number; offset: number }[];
}

/** A page of a view's rows; pass `cursor` to {@link RivuletClient.query}'s `rows` for the next. */
export interface RowsPage<T> {
  rows: ViewRow<T>[];
  positions: number[];
  watermark: number | null;
  cursor?: string;
}

/** Rivulet from a browser or a service: live subscriptions, ingest and view queries. */
export interface RivuletClient<Topics extends TopicTypes = TopicTypes> {
  /**
   * Follows a topic: records arrive in `onRecords`. A dropped connection is reopened and the
   * subscription goes on from the last records handed over: none missing, none twice.
   */
  subscribe<K extends keyof Topics & string>(topic: K, options: TopicSubscribeOptions<Topics[K]>): Subscription;
  /** Follows a view: its rows, then every change; after a reconnection, only what changed meanwhile. */
  subscribeView<K extends keyof Topics & string>(view: K, options: ViewSubscribeOptions<Topics[K]>): ViewSubscription<Topics[K]>;
  /**
   * Rivulet's own figures once a second: records per second and end offsets of every topic, and the
   * status of every pipeline (needs scope `metrics`). What the dashboard shows.
   */
  subscribeMetrics(options: { onMetrics: (metrics: Metrics) => void; onError?: (error: RivuletClientError) => void }): Subscription;
  /** Appends events to a topic (all or, with `invalid_events`, the valid ones; see docs/api.md, "Ingest"). */
  ingest<K extends keyof Topics & string>(topic: K, events: Topics[K][]): Promise<IngestResult>;
  /** Pull queries on views. */
  readonly query: {
    /** The row of `key`, or undefined when the view has none. */
    get<K extends keyof Topics & string>(view: K, key: string): Promise<ViewRow<Topics[K]> | undefined>;
    /** Rows in key order: a prefix or a range, a page at a time. */
    rows<K extends keyof Topics & string>(view: K, range?: { prefix?: string; from?: string; to?: string; limit?: number; cursor?: string }): Promise<RowsPage<Topics[K]>>;
    count(view: keyof Topics & string, prefix?: string): Promise<number>;
  };
  /** Ends every subscription and the connection. */
  close(): void;
}

function errorOf(frame: ServerFrame): RivuletClientError {
  return new RivuletClientError(String(frame.code ?? 'internal'), String(frame.message ?? 'the subscription failed'));
}

/**
 * Creates a client of a Rivulet. Give it the value types of the topics and views it uses — from a
 * pipeline, `TopicsOf<typeof pipeline>` — and records, rows and ingested events are typed.
 * `rivulet/client` imports no Node built-ins: the same code runs in browsers and in Node.
 *
 * @example
 * ```ts
 * import { createClient } from 'rivulet/client';
 * import type { TopicsOf } from 'rivulet';
 * import type fraud from './pipelines/fraud.js';
 *
 * const client = createClient<TopicsOf<typeof fraud>>({ url: 'http://localhost:7070', token: apiKey });
 * client.subscribe('alerts', { from: { last: 20 }, onRecords: (records) => records.forEach((r) => show(r.value.card)) });
 * const stats = await client.query.get('card-stats', 'card-7');
 * ```
 */
export function createClient<Topics extends TopicTypes = TopicTypes>(options: ClientOptions): RivuletClient<Topics> {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const token = async () => (typeof options.token === 'function' ? await options.token() : options.token);
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  let connection: Connection | undefined;
  const connect = (): Connection => {
    if (connection) return connection;
    if (!WebSocketClass) throw new RivuletClientError('no_websocket', 'this platform has no WebSocket: pass one, e.g. createClient({ url, WebSocket }) with WebSocket from the ws package');
    const reconnect = options.reconnect === false ? undefined : options.reconnect ?? {};
    connection = new Connection({
      wsUrl: `${base.replace(/^http/, 'ws')}/v1/ws`,
      token,
      WebSocket: WebSocketClass,
      reconnect: reconnect !== undefined,
      initialDelayMs: reconnect?.initialDelayMs ?? 250,
      maxDelayMs: reconnect?.maxDelayMs ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 35_000,
      onStatus: options.onStatus ?? (() => undefined),
    });
    return connection;
  };

  async function request<R>(method: string, path: string, body?: unknown): Promise<{ status: number; json: R }> {
    const t = await token();
    let res: Response;
    try {
      res = await doFetch(base + path, {
        method,
        headers: { ...(t === undefined ? {} : { authorization: `Bearer ${t}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new RivuletClientError('network_error', `cannot reach Rivulet at ${base}: ${(cause as Error).message}`, undefined, undefined, { cause });
    }
    const json = (await res.json().catch(() => ({}))) as R & { error?: { code?: string; message?: string } };
    if (!res.ok) {
      const { error, ...details } = json;
      throw new RivuletClientError(error?.code ?? 'http_error', error?.message ?? `${method} ${path} answered ${res.status}`, res.status, details);
    }
    return { status: res.status, json };
  }
  const at = (view: string) => `/v1/views/${encodeURIComponent(view)}`;

  /**
   * Adds a subscription to the connection. An error frame for it ends it (the server has dropped it),
   * except errors that end the whole connection (`slow_consumer`, `token_expired`): a new connection
   * resumes it.
   */
  function start(frame: () => Record<string, unknown>, onFrame: (frame: ServerFrame) => void, onError?: (error: RivuletClientError) => void, onDisconnect = () => undefined): { close(): void } {
    let over = false;
    const close = () => {
      over = true;
      connection?.remove(id);
    };
    const id = connect().add({
      subscribeFrame: frame,
      onFrame(f) {
        if (over) return;
        if (f.type !== 'error' || f.code === 'slow_consumer' || f.code === 'token_expired') return onFrame(f);
        close();
        onError?.(errorOf(f));
      },
      onDisconnect,
    });
    return { close };
  }

  return {
    subscribe(topic, opts) {
      let positions: number[] | undefined;
      const sub = start(() => ({
        type: 'subscribe', topic, from: positions ? { offsets: positions } : opts.from ?? 'latest',
        ...(opts.filter ? { filter: opts.filter } : {}), ...(opts.flow ? { flow: opts.flow } : {}),
      }), (frame) => {
        if (frame.type === 'subscribed') positions = frame.positions as number[];
        else if (frame.type === 'records') {
          opts.onRecords(frame.records as TopicRecord<never>[]);
          positions = frame.positions as number[];
        } else if (frame.type === 'gap') {
          const gap = { partition: frame.partition, from: frame.from, to: frame.to, reason: frame.reason } as Gap;
          if (positions) positions[gap.partition] = Math.max(positions[gap.partition] ?? 0, gap.to);
          opts.onGap?.(gap);
        }
      }, opts.onError);
      return { get positions() { return positions; }, close: sub.close };
    },

    subscribeView(view, opts) {
      let rows = new Map<string, ViewRow<never>>();
      // Rows of a snapshot being received: they replace `rows` once its last part is in.
      let incoming: Map<string, ViewRow<never>> | undefined;
      let positions: number[] | undefined;
      let watermark: number | null = null;
      const sub = start(() => ({
        type: 'subscribe', view, ...(positions ? { from: { offsets: positions } } : {}),
        ...(opts.filter ? { filter: opts.filter } : {}), ...(opts.flow ? { flow: opts.flow } : {}),
      }), (frame) => {
        if (frame.type === 'snapshot') {
          if (frame.part === 0) incoming = new Map();
          for (const r of frame.rows as ViewRow<never>[]) incoming?.set(r.key, r);
          if (frame.done === true && incoming) {
            rows = incoming;
            incoming = undefined;
            positions = frame.positions as number[];
            watermark = (frame.watermark as number | null | undefined) ?? null;
            opts.onChange(rows, []);
          }
        } else if (frame.type === 'resumed') {
          watermark = (frame.watermark as number | null | undefined) ?? watermark;
        } else if (frame.type === 'changes') {
          const changes = frame.changes as ViewChange<never>[];
          for (const c of changes) {
            if (c.deleted) rows.delete(c.key);
            else rows.set(c.key, c);
          }
          // Only a frame with positions ends a consistent state to resume from.
          if (frame.positions) positions = frame.positions as number[];
          if (frame.watermark !== undefined) watermark = frame.watermark as number | null;
          opts.onChange(rows, changes);
        }
      }, opts.onError, () => {
        incoming = undefined;
      });
      return {
        get rows() { return rows; },
        get positions() { return positions; },
        get watermark() { return watermark; },
        close: sub.close,
      };
    },

    subscribeMetrics(opts) {
      const sub = start(() => ({ type: 'subscribe', metrics: true }), (frame) => {
        if (frame.type === 'metrics') opts.onMetrics(frame as unknown as Metrics);
      }, opts.onError);
      return { positions: undefined, close: sub.close };
    },

    async ingest(topic, events) {
      return (await request<IngestResult>('POST', `/v1/topics/${encodeURIComponent(topic)}/events`, events)).json;
    },

    query: {
      async get(view, key) {
        try {
          return (await request<ViewRow<never>>('GET', `${at(view)}/keys/${encodeURIComponent(key)}`)).json;
        } catch (err) {
          if (err instanceof RivuletClientError && err.code === 'unknown_key') return undefined;
          throw err;
        }
      },
      async rows(view, range = {}) {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(range)) if (v !== undefined) q.set(k, String(v));
        const query = q.toString();
        return (await request<RowsPage<never>>('GET', `${at(view)}/rows${query ? `?${query}` : ''}`)).json;
      },
      async count(view, prefix) {
        return (await request<{ count: number }>('GET', `${at(view)}/count${prefix ? `?prefix=${encodeURIComponent(prefix)}` : ''}`)).json.count;
      },
    },

    close() {
      connection?.close();
    },
  };
}
