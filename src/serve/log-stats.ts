import { EmbeddedLog, type EmbeddedLogStats } from '../log/embedded/embedded-log.js';
import type { Log } from '../log/log.js';

/** Storage figures of a log (bytes, segments, integrity counters), for the logs that keep them. */
export type LogStats = EmbeddedLogStats;

/**
 * The storage figures of `log` now, or `undefined` when this kind of log does not keep them (only the
 * embedded log does). Use it wherever the API or the metrics report sizes, so that they work on any {@link Log}.
 */
export function statsOf(log: Log): LogStats | undefined {
  return log instanceof EmbeddedLog ? log.stats() : undefined;
}
