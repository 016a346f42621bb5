/**
 * `rivulet/client`: Rivulet from a browser or a service — live topic and view subscriptions that
 * resume after dropped connections without gaps or duplicates, ingest, and view queries. It uses only
 * `fetch` and `WebSocket`, no Node built-ins.
 *
 * @example
 * ```ts
 * import { createClient } from 'rivulet/client';
 * const client = createClient({ url: 'http://localhost:7070', token: 'my-api-key' });
 * const stats = client.subscribeView('card-stats', { onChange: (rows) => render([...rows.values()]) });
 * ```
 * @module
 */
export { createClient } from './client.js';
export type {
  ClientOptions, RivuletClient, TopicSubscribeOptions, ViewSubscribeOptions, Subscription, ViewSubscription, IngestResult, RowsPage, Metrics,
} from './client.js';
export type { ConnectionStatus, WebSocketConstructor, WebSocketLike } from './connection.js';
export { RivuletClientError } from './errors.js';
export type { TopicRecord, ViewRow, ViewChange, From, Filter, Predicate, Gap, TopicTypes } from './types.js';
