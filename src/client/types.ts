/**
 * The shapes of protocol v1 (docs/protocol.md) as the client sees them. This folder imports nothing
 * outside itself and no Node built-ins, so that it runs in browsers as it does in Node.
 */

/** A record of a topic subscription, with its value typed as the topic's. */
export interface TopicRecord<T = unknown> {
  partition: number;
  offset: number;
  key: string | null;
  /** Epoch milliseconds. */
  timestamp: number;
  value: T;
}

/** A row of a view: the latest value of a key and where in the view's topic it came from. */
export interface ViewRow<T = unknown> {
  key: string;
  value: T;
  partition: number;
  offset: number;
  timestamp: number;
}

/** A change to a view: an upsert, or a deletion (`deleted: true`, no value). */
export type ViewChange<T = unknown> = (ViewRow<T> & { deleted?: false }) | { key: string; deleted: true; partition: number; offset: number; timestamp: number };

/** Where a topic subscription starts (its first connection; reconnections resume where it was). */
export type From =
  | 'earliest'
  | 'latest'
  | { offsets: number[] }
  | { last: number }
  | { time: number | string };

/** A predicate of a server-side filter on a dotted field path of the value. */
export type Predicate =
  | { field: string; op: 'eq' | 'ne'; value: string | number | boolean | null }
  | { field: string; op: 'lt' | 'lte' | 'gt' | 'gte'; value: number | string }
  | { field: string; op: 'in'; value: (string | number | boolean | null)[] }
  | { field: string; op: 'exists' };

/** A server-side filter: records or rows with one of `keys` whose value meets every predicate of `where`. */
export interface Filter {
  keys?: string[];
  where?: Predicate[];
}

/** Records of offsets `from` up to `to` of a partition that a subscription did not get. */
export interface Gap {
  partition: number;
  from: number;
  to: number;
  /** `retention`: they no longer exist; `slow_consumer`: skipped for a subscriber with flow `drop-oldest`. */
  reason: 'retention' | 'slow_consumer';
}

/** The value types of a Rivulet's topics and views, by name: what {@link createClient}'s type parameter takes. */
export type TopicTypes = Record<string, unknown>;
