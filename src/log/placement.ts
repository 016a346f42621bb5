import { InvalidArgumentError } from '../core/errors.js';
import type { AppendRecord } from '../core/record.js';
import type { TopicInfo } from './log.js';
import { partitionForKey } from './partitioner.js';

/**
 * Checks every record of an append and decides its partition, before anything is stored: a batch with
 * a bad record is refused whole, naming the record. An explicit `partition` wins; then the key
 * (murmur2, as Kafka); keyless records go round robin, `nextRoundRobin()` giving the next turn.
 * Shared by every `Log` backend, so that all of them refuse the same things with the same errors.
 */
export function placeRecords(info: TopicInfo, records: readonly AppendRecord[], nextRoundRobin: () => number): Int32Array {
  const n = info.partitions;
  const topic = info.name;
  const compacted = info.config.cleanupPolicy === 'compact';
  const partitionOf = new Int32Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const key = r.key ?? null;
    if (key !== null && typeof key !== 'string') throw new InvalidArgumentError(`record ${i}: key must be a string or null, got ${typeof key}`, 'invalid_key');
    if (compacted && key === null) throw new InvalidArgumentError(`topic '${topic}' is compacted: record ${i} needs a key`, 'key_required');
    if (r.timestamp !== undefined && !Number.isFinite(r.timestamp)) {
      throw new InvalidArgumentError(`record ${i}: timestamp must be epoch milliseconds, got ${String(r.timestamp)}`, 'invalid_timestamp');
    }
    if (r.partition !== undefined) {
      if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= n) {
        throw new InvalidArgumentError(`topic '${topic}' has partitions 0-${n - 1}; record ${i} names partition ${r.partition}`, 'unknown_partition');
      }
      partitionOf[i] = r.partition;
    } else if (n === 1) {
      partitionOf[i] = 0;
    } else if (key !== null) {
      partitionOf[i] = partitionForKey(key, n);
    } else {
      partitionOf[i] = nextRoundRobin() % n;
    }
  }
  return partitionOf;
}
