import { InvalidArgumentError, TopicExistsError, TopicInUseError, UnknownTopicError } from '../core/errors.js';
import type { Log, TopicConfig, TopicInfo } from '../log/log.js';
import { statsOf, type LogStats } from './log-stats.js';

/** One partition of a topic as topic administration reports it. */
export interface PartitionDescription {
  partition: number;
  /** The offset of the oldest record still stored (the end offset when the partition is empty). */
  startOffset: number;
  /** The offset the next appended record will get. */
  endOffset: number;
  /** Bytes stored; only for logs that keep storage figures (the embedded log). */
  bytes?: number;
  /** Segment files; only for logs that keep storage figures (the embedded log). */
  segments?: number;
}

/** A topic as `GET /v1/topics/:topic` and `rivulet topics describe --json` report it. */
export interface TopicDescription extends TopicInfo {
  /** `endOffsets[p]` is the end offset of partition `p` (the same as `partitionDetails[p].endOffset`). */
  endOffsets: number[];
  partitionDetails: PartitionDescription[];
  /** Bytes stored over all partitions; only for logs that keep storage figures (the embedded log). */
  bytes?: number;
  /** Segment files over all partitions; only for logs that keep storage figures (the embedded log). */
  segments?: number;
}

/** What creating a topic takes: `config` is a {@link TopicConfig} without `partitions`, checked by the log. */
export interface CreateTopicRequest {
  name: string;
  partitions?: number;
  config?: Record<string, unknown>;
}

/**
 * Topic administration with the same rules and errors wherever it runs: over HTTP (the server's
 * `/v1/topics` routes and the CLI's HTTP client) or directly on a log (the CLI's `--data` mode).
 * Errors: `unknown_topic`, `topic_exists`, `topic_in_use`, `invalid_config` (naming the setting),
 * `invalid_topic_name`.
 */
export interface TopicAdmin {
  /** Every topic, by name. */
  list(): Promise<TopicDescription[]>;
  describe(name: string): Promise<TopicDescription>;
  /** Creates a topic; fails with `topic_exists` when there is one of that name. */
  create(request: CreateTopicRequest): Promise<TopicDescription>;
  /** Changes some settings of a topic (never its partition count); the others keep their values. */
  updateConfig(name: string, patch: Record<string, unknown>): Promise<TopicDescription>;
  /** Deletes a topic and its data. */
  delete(name: string): Promise<void>;
}

/** Options of {@link LogTopicAdmin}. */
export interface LogTopicAdminOptions {
  /** The pipelines that use a topic; a topic with any cannot be deleted. Default: none. */
  pipelinesUsing?: (topic: string) => string[];
}

function describeWith(log: Log, info: TopicInfo, stats: LogStats | undefined): TopicDescription {
  const starts = log.startOffsets(info.name);
  const ends = log.endOffsets(info.name);
  const storage = stats?.topics.find((t) => t.name === info.name);
  return {
    ...info,
    endOffsets: ends,
    partitionDetails: ends.map((endOffset, partition) => {
      const figures = storage?.perPartition[partition];
      return { partition, startOffset: starts[partition] ?? endOffset, endOffset, ...(figures ? { bytes: figures.bytes, segments: figures.segments } : {}) };
    }),
    ...(storage ? { bytes: storage.bytes, segments: storage.segments } : {}),
  };
}

/**
 * {@link TopicAdmin} on a {@link Log} in this process: what the HTTP API runs, and what
 * `rivulet topics --data <dir>` runs on a stopped data directory.
 */
export class LogTopicAdmin implements TopicAdmin {
  constructor(private readonly log: Log, private readonly options: LogTopicAdminOptions = {}) {}

  async list(): Promise<TopicDescription[]> {
    const stats = statsOf(this.log);
    return this.log.listTopics().map((info) => describeWith(this.log, info, stats));
  }

  async describe(name: string): Promise<TopicDescription> {
    return describeWith(this.log, this.info(name), statsOf(this.log));
  }

  async create(request: CreateTopicRequest): Promise<TopicDescription> {
    const { name, partitions, config = {} } = request;
    if ('partitions' in config) {
      throw new InvalidArgumentError(`topic '${name}': 'config.partitions' is not a setting; give 'partitions' next to 'name'`, 'invalid_config');
    }
    if (this.log.describeTopic(name)) throw new TopicExistsError(name);
    // The log checks every setting (resolveTopicConfig) and names the one that is wrong.
    const topicConfig = { ...config, ...(partitions === undefined ? {} : { partitions }) } as TopicConfig;
    const info = await this.log.createTopic(name, topicConfig);
    return describeWith(this.log, info, statsOf(this.log));
  }

  async updateConfig(name: string, patch: Record<string, unknown>): Promise<TopicDescription> {
    this.info(name);
    if ('partitions' in patch) {
      throw new InvalidArgumentError(`topic '${name}': 'partitions' cannot be changed; it is fixed when the topic is created`, 'invalid_config');
    }
    const info = await this.log.updateTopicConfig(name, patch as Omit<TopicConfig, 'partitions'>);
    return describeWith(this.log, info, statsOf(this.log));
  }

  async delete(name: string): Promise<void> {
    this.info(name);
    const users = this.options.pipelinesUsing?.(name) ?? [];
    if (users.length > 0) throw new TopicInUseError(name, users);
    await this.log.deleteTopic(name);
  }

  private info(name: string): TopicInfo {
    const info = this.log.describeTopic(name);
    if (!info) throw new UnknownTopicError(name);
    return info;
  }
}
