import type { AppendRecord } from '../core/record.js';
import type { Log } from '../log/log.js';

/** What a running sink reports. */
export interface SinkStatus {
  name: string;
  topic: string;
  /** Next offset to write, per partition of the topic. */
  positions: number[];
  /** Rows written (upserted or deleted) since the sink started. */
  rowsWritten: number;
  /** Why the last attempt failed, while the sink retries. */
  lastError?: string;
}

/** A sink at work: it follows its topic until stopped. */
export interface RunningSink {
  readonly name: string;
  status(): SinkStatus;
  stop(): Promise<void>;
}

/**
 * A connector that writes a topic to an external system. Sinks read topics, which hold committed
 * results only, and write idempotently (upserts by key, positions stored with the data), so a replay
 * after a crash leaves no duplicate. `deadLetters` takes the records it cannot write, with the reason.
 */
export interface SinkConnector {
  readonly name: string;
  readonly topic: string;
  start(log: Log, deadLetters: (records: AppendRecord[]) => Promise<void>): RunningSink;
}
