import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { TaskStatus } from '../engine/task.js';
import type { Log } from '../log/log.js';
import { statsOf, type LogStats } from './log-stats.js';
import type { GatewayStats } from './outlet.js';

/** The Prometheus metrics of one server, for `GET /metrics`. */
export interface ServerMetrics {
  /** The `content-type` of {@link ServerMetrics.render}'s text. */
  contentType: string;
  /** Collects every metric now and renders them in the Prometheus text format. */
  render(): Promise<string>;
}

/**
 * Creates the metrics of a server on its own registry (never prom-client's global one, so that two
 * servers in one process do not mix): the process metrics prom-client collects by default, and the
 * log's figures read at scrape time — end offsets from any {@link Log}, storage and integrity counters
 * from logs that keep them (the embedded log), and each running pipeline's progress (events in, records
 * out, late events, watermark). Names and labels are listed in docs/api.md, "Metrics".
 */
export function createMetrics(log: Log, pipelines: () => TaskStatus[] = () => [], gateway?: GatewayStats): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  // The log keeps its own totals; a counter follows them by adding what they grew by since the last scrape.
  const counter = (name: string, help: string, read: (s: LogStats) => number) => {
    let last = 0;
    return new Counter({
      name,
      help,
      registers,
      collect() {
        const stats = statsOf(log);
        if (!stats) return;
        const now = read(stats);
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  };
  counter('rivulet_log_corrupt_reads_total', 'Reads refused because a stored batch failed its CRC check.', (s) => s.corruptReads);
  counter('rivulet_log_fsyncs_total', "fdatasync calls of the log (with fsync: 'always', concurrent appends share them).", (s) => s.fsyncs);
  /** A gauge of one figure of the log's stats. */
  const gauge = (name: string, help: string, read: (s: LogStats) => number) => new Gauge({
    name,
    help,
    registers,
    collect() {
      const stats = statsOf(log);
      if (stats) this.set(read(stats));
    },
  });
  gauge('rivulet_log_damaged_batches', 'Batches found failing their CRC between intact ones when the log was opened (kept, never served).', (s) => s.damagedBatches);
  gauge('rivulet_log_recovered_truncated_bytes', 'Bytes of torn or corrupt segment tails cut off when the log was opened.', (s) => s.recoveredTruncatedBytes);
  /** A gauge per topic of one figure of the log's stats. */
  const perTopic = (name: string, help: string, read: (t: LogStats['topics'][number]) => number) => new Gauge({
    name,
    help,
    labelNames: ['topic'] as const,
    registers,
    collect() {
      this.reset();
      for (const t of statsOf(log)?.topics ?? []) this.set({ topic: t.name }, read(t));
    },
  });
  perTopic('rivulet_log_topic_bytes', 'Bytes stored by a topic over all its partitions.', (t) => t.bytes);
  perTopic('rivulet_log_topic_segments', 'Segment files of a topic over all its partitions.', (t) => t.segments);
  const perPartition = (name: string, help: string, offsets: (topic: string) => number[]) => new Gauge({
    name,
    help,
    labelNames: ['topic', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const t of log.listTopics()) {
        offsets(t.name).forEach((offset, p) => this.set({ topic: t.name, partition: String(p) }, offset));
      }
    },
  });
  perPartition('rivulet_log_end_offset', 'The offset the next record appended to a partition will get.', (t) => log.endOffsets(t));
  perPartition('rivulet_log_start_offset', 'The offset of the oldest record still stored in a partition.', (t) => log.startOffsets(t));

  // A pipeline's totals survive restarts (they are checkpointed); a counter follows them per pipeline.
  const perPipeline = (name: string, help: string, read: (t: TaskStatus) => number) => {
    const last = new Map<string, number>();
    return new Counter({
      name,
      help,
      labelNames: ['pipeline'] as const,
      registers,
      collect() {
        for (const t of pipelines()) {
          const now = read(t);
          const before = last.get(t.pipeline) ?? 0;
          this.inc({ pipeline: t.pipeline }, Math.max(0, now - before));
          last.set(t.pipeline, Math.max(now, before));
        }
      },
    });
  };
  // A gauge per pipeline, without a sample while `read` gives null.
  const perPipelineGauge = (name: string, help: string, read: (t: TaskStatus) => number | null) => new Gauge({
    name,
    help,
    labelNames: ['pipeline'] as const,
    registers,
    collect() {
      this.reset();
      for (const t of pipelines()) {
        const v = read(t);
        if (v !== null) this.set({ pipeline: t.pipeline }, v);
      }
    },
  });
  perPipeline('rivulet_pipeline_events_in_total', 'Events a pipeline read from its source topics.', (t) => t.eventsIn);
  perPipeline('rivulet_pipeline_records_out_total', 'Records a pipeline appended to its output topics.', (t) => t.recordsOut);
  perPipeline('rivulet_pipeline_commits_total', 'Epochs a pipeline committed (each: a checkpoint, then its outputs appended).', (t) => t.epoch);
  perPipelineGauge('rivulet_pipeline_last_commit_seconds',
    "How long a pipeline's last commit took: syncing its inputs and outputs, writing the checkpoint, storing state, appending outputs.", (t) => t.lastCommitSeconds);
  perPipeline('rivulet_pipeline_late_events_total', "Events that arrived after the windows or join state they belonged to had closed (sent to the operator's late output topic when it has one).", (t) => t.lateEvents);
  perPipelineGauge('rivulet_pipeline_watermark_ms', "A pipeline's event-time watermark, epoch milliseconds (absent before its first event).", (t) => t.watermark);

  if (gateway) {
    const value = (name: string, help: string, read: () => number) => new Gauge({ name, help, registers, collect() { this.set(read()); } });
    const total = (name: string, help: string, read: () => number) => {
      let last = 0;
      return new Counter({ name, help, registers, collect() { const now = read(); this.inc(now - last); last = now; } });
    };
    value('rivulet_ws_connections', 'Open WebSocket connections.', () => gateway.connections);
    value('rivulet_ws_shared_tail_subscriptions', 'Topic subscriptions served by the shared reader at the end of their topic (read and encoded once for all).', () => gateway.sharedTailSubscriptions());
    value('rivulet_ws_buffered_bytes', "Bytes waiting in the WebSocket connections' send buffers.", () => gateway.bufferedBytes());
    total('rivulet_ws_dropped_records_total', "Records skipped for subscribers that fell behind with flow policy 'drop-oldest'.", () => gateway.droppedRecords);
    total('rivulet_ws_conflated_changes_total', 'View changes replaced by a later change of their key before a slow subscriber got them.', () => gateway.conflatedChanges);
    total('rivulet_ws_slow_consumer_disconnects_total', "Connections closed because a subscription with flow policy 'disconnect' fell behind.", () => gateway.slowConsumerDisconnects);
  }

  return { contentType: registry.contentType, render: () => registry.metrics() };
}
