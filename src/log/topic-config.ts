import { InvalidArgumentError } from '../core/errors.js';
import type { FsyncPolicy, ResolvedTopicConfig, TopicConfig } from './log.js';

/** The largest `segmentBytes` (2 GiB − 1). */
export const MAX_SEGMENT_BYTES = 2 ** 31 - 1;

/** The defaults of every topic setting, in one place. */
export const TOPIC_DEFAULTS: ResolvedTopicConfig = {
  fsync: { intervalMs: 1000 },
  segmentBytes: 64 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: null,
  retentionBytes: null,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 3600 * 1000,
};

const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

function checkFsync(v: unknown, topic: string): FsyncPolicy {
  if (v === 'always' || v === 'never') return v;
  if (v !== null && typeof v === 'object' && positiveInt((v as { intervalMs?: unknown }).intervalMs)) {
    return { intervalMs: (v as { intervalMs: number }).intervalMs };
  }
  throw new InvalidArgumentError(`topic '${topic}': fsync must be 'always', 'never' or { intervalMs: <positive integer> }, got ${JSON.stringify(v)}`, 'invalid_config');
}

/**
 * Fills in the defaults of a topic configuration and checks every field, naming the one that is wrong.
 * `base` is the configuration being changed (for updates); `partitions` is not part of the result.
 */
export function resolveTopicConfig(topic: string, config: Omit<TopicConfig, 'partitions'>, base: ResolvedTopicConfig = TOPIC_DEFAULTS): ResolvedTopicConfig {
  const out: ResolvedTopicConfig = { ...base, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) } as ResolvedTopicConfig;
  const bad = (field: string, expected: string, got: unknown) =>
    new InvalidArgumentError(`topic '${topic}': ${field} must be ${expected}, got ${JSON.stringify(got)}`, 'invalid_config');
  out.fsync = checkFsync(out.fsync, topic);
  // Index entries hold 32-bit byte positions; Kafka caps segment.bytes at 2^31 − 1 too.
  if (!positiveInt(out.segmentBytes) || out.segmentBytes < 1024 || out.segmentBytes > MAX_SEGMENT_BYTES) {
    throw bad('segmentBytes', `an integer from 1024 to ${MAX_SEGMENT_BYTES}`, out.segmentBytes);
  }
  if (!positiveInt(out.segmentMs)) throw bad('segmentMs', 'a positive integer of milliseconds', out.segmentMs);
  if (out.retentionMs !== null && !positiveInt(out.retentionMs)) throw bad('retentionMs', 'a positive integer of milliseconds or null', out.retentionMs);
  if (out.retentionBytes !== null && !positiveInt(out.retentionBytes)) throw bad('retentionBytes', 'a positive integer or null', out.retentionBytes);
  if (out.cleanupPolicy !== 'delete' && out.cleanupPolicy !== 'compact') throw bad('cleanupPolicy', "'delete' or 'compact'", out.cleanupPolicy);
  if (typeof out.deleteRetentionMs !== 'number' || !Number.isInteger(out.deleteRetentionMs) || out.deleteRetentionMs < 0) {
    throw bad('deleteRetentionMs', 'a non-negative integer of milliseconds', out.deleteRetentionMs);
  }
  for (const key of Object.keys(config)) {
    if (!(key in TOPIC_DEFAULTS)) throw new InvalidArgumentError(`topic '${topic}': unknown setting '${key}'`, 'invalid_config');
  }
  return out;
}
