/** A value that survives a JSON round trip: what Rivulet stores as an event. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** A record to append to a topic. Without `partition`, the key picks it (murmur2, like Kafka); without a key, round robin. */
export interface AppendRecord {
  /** Routing and compaction key. Records with one key keep their order within one partition. */
  key?: string | null;
  /** The event itself; stored as JSON. */
  value: unknown;
  /** Event time in epoch milliseconds; defaults to the time of the append. */
  timestamp?: number;
  /** Explicit partition, overriding the key. */
  partition?: number;
}

/** A record as stored in a partition of a topic. */
export interface LogRecord<T = unknown> {
  partition: number;
  /** Position of the record in its partition: 0, 1, 2, … with no gaps. */
  offset: number;
  key: string | null;
  /** Event time in epoch milliseconds. */
  timestamp: number;
  value: T;
}

/** Where an appended record was stored. */
export interface RecordPosition {
  partition: number;
  offset: number;
}
