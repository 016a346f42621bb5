import { CorruptDataError, InvalidArgumentError, OffsetConflictError, RivuletError } from '../../core/errors.js';
import type { AppendRecord, LogRecord } from '../../core/record.js';
import type { Log } from '../../log/log.js';
import { partitionForKey } from '../../log/partitioner.js';

/**
 * An output record with its partition decided, so that a retry after a crash writes it to the same
 * place. A `Uint8Array` value (stored raw by the log) is held as base64 in `bytes` while it waits in
 * a checkpoint, which is JSON.
 */
export interface PlacedRecord {
  key: string | null;
  value: unknown;
  timestamp: number;
  partition: number;
  bytes?: string;
}

/**
 * The records of one epoch for one topic, as a checkpoint holds them: per partition, the offset the
 * partition ended at when the epoch committed (`base`) and the records that go after it.
 *
 * `fence` says how a retry finds out what is already written:
 * - `'offsets'`: the pipeline is the topic's only writer, so the partition's end offset tells how many
 *   of the records are there (`base` … `base + records.length`);
 * - `'dead-letter'`: a topic others write too; each record names the pipeline and the source position
 *   of the event it refuses, and a retry skips those the partition already holds after `base`.
 */
export interface SealedTopicOutputs {
  topic: string;
  fence: 'offsets' | 'dead-letter';
  partitions: { partition: number; base: number; records: PlacedRecord[] }[];
}

/** A retry found an output partition in a state that its writer alone cannot have left it in. */
export class OutputFenceError extends RivuletError {
  override name = 'OutputFenceError';
  constructor(message: string) {
    super('output_fence', message);
  }
}

/**
 * The output records a pipeline task produced since its last commit, per topic. They are not in the
 * log yet: a commit writes them into the checkpoint first (with where each goes) and appends them
 * after, so that readers of the topics only ever see committed results (read-committed), and a crash
 * between the two is repaired from the checkpoint without writing anything twice.
 */
export class EpochOutputs {
  private readonly topics = new Map<string, { fence: SealedTopicOutputs['fence']; records: PlacedRecord[] }>();
  private readonly roundRobin = new Map<string, number>();
  private count = 0;

  constructor(private readonly log: Log) {}

  /** Records waiting for the next commit. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds records for `topic`, placing each on a partition now: by key as the log would, keyless ones
   * round robin per topic (counted from the task's start, so the order is the task's, not the log's).
   */
  add(topic: string, records: readonly AppendRecord[], fence: SealedTopicOutputs['fence'] = 'offsets'): void {
    this.addPlaced(topic, this.place(topic, records), fence);
  }

  /**
   * Checks records for `topic` and decides each one's partition, without adding them: by an explicit
   * `partition`, else by key as the log would, keyless ones round robin per topic.
   */
  place(topic: string, records: readonly AppendRecord[]): PlacedRecord[] {
    const info = this.log.describeTopic(topic);
    if (info === undefined) throw new RivuletError('unknown_topic', `output topic '${topic}' does not exist`);
    const partitions = info.partitions;
    const compacted = info.config.cleanupPolicy === 'compact';
    let rr = this.roundRobin.get(topic) ?? 0;
    const out: PlacedRecord[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const key = r.key ?? null;
      // What the log would refuse must fail here, before the commit: a checkpoint holding records the
      // log refuses would fail every restart.
      if (compacted && key === null) throw new InvalidArgumentError(`pipeline output to '${topic}': the topic is compacted and a record has no key (key the stream with keyBy)`, 'key_required');
      const v = r.value;
      if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
        throw new InvalidArgumentError(`pipeline output to '${topic}': a record's value is a ${typeof v}, which cannot be stored`, 'unencodable_value');
      }
      const partition = r.partition ?? (key !== null ? partitionForKey(key, partitions) : rr++ % partitions);
      const placed: PlacedRecord = { key, value: v, timestamp: r.timestamp ?? Date.now(), partition };
      if (v instanceof Uint8Array) {
        placed.value = null;
        placed.bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      }
      out[i] = placed;
    }
    this.roundRobin.set(topic, rr);
    return out;
  }

  /** Adds records whose partitions are decided (here, or by the task of a split pipeline that sent them). */
  addPlaced(topic: string, records: readonly PlacedRecord[], fence: SealedTopicOutputs['fence'] = 'offsets'): void {
    if (records.length === 0) return;
    let entry = this.topics.get(topic);
    if (!entry) {
      entry = { fence, records: [] };
      this.topics.set(topic, entry);
    }
    for (const r of records) entry.records.push(r);
    this.count += records.length;
  }

  /** Takes the epoch's records, grouped by partition with each partition's end offset as their base. */
  seal(): SealedTopicOutputs[] {
    const sealed: SealedTopicOutputs[] = [];
    for (const [topic, { fence, records }] of this.topics) {
      const ends = this.log.endOffsets(topic);
      const byPartition = new Map<number, PlacedRecord[]>();
      for (const r of records) {
        let list = byPartition.get(r.partition);
        if (!list) byPartition.set(r.partition, (list = []));
        list.push(r);
      }
      sealed.push({
        topic,
        fence,
        partitions: [...byPartition].sort((a, b) => a[0] - b[0]).map(([partition, list]) => ({ partition, base: ends[partition]!, records: list })),
      });
    }
    this.topics.clear();
    this.count = 0;
    return sealed;
  }

  /** Restores the round-robin positions a checkpoint saved, so that keyless records keep spreading evenly. */
  restorePlacement(state: Record<string, number> | undefined): void {
    for (const [topic, n] of Object.entries(state ?? {})) this.roundRobin.set(topic, n);
  }

  placement(): Record<string, number> {
    return Object.fromEntries(this.roundRobin);
  }
}

/**
 * Appends sealed outputs, skipping what the log already holds: after a crash between a commit and
 * its appends, a retry writes exactly what is missing. Returns the number of records appended.
 * `pipeline` names the writer, for errors and dead-letter identities.
 */
export async function publishSealed(log: Log, pipeline: string, sealed: readonly SealedTopicOutputs[], committedAt: number): Promise<number> {
  let appended = 0;
  for (const t of sealed) {
    const missing: AppendRecord[] = [];
    // A topic deleted and created again since the commit holds none of these records.
    const recreated = (log.describeTopic(t.topic)?.createdAt ?? 0) > committedAt;
    for (const part of t.partitions) {
      const end = log.endOffsets(t.topic)[part.partition];
      if (end === undefined) throw new OutputFenceError(`pipeline '${pipeline}': output topic '${t.topic}' has no partition ${part.partition}`);
      if (t.fence === 'offsets' && !recreated) {
        appended += await appendByOffset(log, pipeline, t.topic, part, end);
        continue;
      }
      const records = recreated ? part.records : await missingDeadLetters(log, pipeline, t.topic, part, end);
      for (const r of records) missing.push(toAppend(r));
    }
    if (missing.length > 0) await log.append(t.topic, missing);
    appended += missing.length;
  }
  return appended;
}

function toAppend(r: PlacedRecord): AppendRecord {
  return r.bytes === undefined ? r : { key: r.key, timestamp: r.timestamp, partition: r.partition, value: Buffer.from(r.bytes, 'base64') };
}

/**
 * Appends what the partition lacks of a sealed part, at exactly the offset where it goes: another
 * instance of this task (one that lost its lease but does not know it yet) can then never write the
 * same results a second time. `end` is the partition's end as this process last saw it; where the log
 * says otherwise, what is missing is judged again from the log's end.
 */
async function appendByOffset(log: Log, pipeline: string, topic: string, part: SealedTopicOutputs['partitions'][number], end: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const records = missingByOffset(pipeline, topic, part, end);
    if (records.length === 0) return 0;
    try {
      await log.appendAt(topic, part.partition, end, records.map(toAppend));
      return records.length;
    } catch (err) {
      if (!(err instanceof OffsetConflictError) || err.actual === undefined || attempt > 0) throw err;
      // The partition holds more than this process knew: count those records as written only if they
      // are these ones (another instance of this task wrote them), never on the strength of offsets alone.
      await checkWrittenByUs(log, pipeline, topic, part, end, err.actual);
      end = err.actual;
    }
  }
}

/** Fails unless the partition's records from `from` to `to` are the sealed part's records at those offsets. */
async function checkWrittenByUs(log: Log, pipeline: string, topic: string, part: SealedTopicOutputs['partitions'][number], from: number, to: number): Promise<void> {
  const lo = Math.max(from, part.base);
  const hi = Math.min(to, part.base + part.records.length);
  const same = (r: LogRecord, p: PlacedRecord) => r.key === p.key && r.timestamp === p.timestamp
    && (p.bytes !== undefined ? r.value instanceof Uint8Array && Buffer.from(r.value).toString('base64') === p.bytes : JSON.stringify(r.value) === JSON.stringify(p.value));
  for (let offset = lo; offset < hi;) {
    const page = await log.read(topic, part.partition, offset, Math.min(1000, hi - offset));
    if (page.length === 0) break;
    for (const r of page) {
      if (r.offset >= hi) break;
      if (r.offset !== offset || !same(r, part.records[offset - part.base]!)) {
        throw new OutputFenceError(`pipeline '${pipeline}': partition ${part.partition} of '${topic}' holds at offset ${r.offset} a record this pipeline did not commit there: something else writes to a topic that only this pipeline may write`);
      }
      offset++;
    }
  }
}

function missingByOffset(pipeline: string, topic: string, part: SealedTopicOutputs['partitions'][number], end: number): PlacedRecord[] {
  const written = end - part.base;
  if (written < 0 || written > part.records.length) {
    throw new OutputFenceError(`pipeline '${pipeline}' committed ${part.records.length} records for partition ${part.partition} of '${topic}' `
      + `at offset ${part.base}, but the partition ends at ${end}: something else wrote to or truncated a topic that only this pipeline may write `
      + `(to start the pipeline over, delete its checkpoint file)`);
  }
  return part.records.slice(written);
}

/** The identity of a pipeline's dead letter: the pipeline and the position of the refused event. */
function deadLetterId(value: unknown): string | undefined {
  const v = value as { pipeline?: unknown; topic?: unknown; partition?: unknown; offset?: unknown } | null;
  if (v === null || typeof v !== 'object' || typeof v.pipeline !== 'string') return undefined;
  return JSON.stringify([v.pipeline, v.topic, v.partition, v.offset]);
}

async function missingDeadLetters(log: Log, pipeline: string, topic: string, part: SealedTopicOutputs['partitions'][number], end: number): Promise<PlacedRecord[]> {
  const present = new Set<string>();
  for (let offset = part.base; offset < end;) {
    let page;
    try {
      page = await log.read(topic, part.partition, offset, 1000);
    } catch (err) {
      // Damaged records are never served: whatever of ours was among them counts as missing.
      if (err instanceof CorruptDataError && err.range && err.range.resumeOffset > offset) {
        offset = err.range.resumeOffset;
        continue;
      }
      throw err;
    }
    if (page.length === 0) break;
    for (const r of page) {
      const id = deadLetterId(r.value);
      if (id !== undefined && (r.value as { pipeline: string }).pipeline === pipeline) present.add(id);
    }
    offset = page.at(-1)!.offset + 1;
  }
  return part.records.filter((r) => {
    const id = deadLetterId(r.value);
    return id === undefined || !present.has(id);
  });
}
