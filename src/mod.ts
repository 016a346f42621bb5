/**
 * Rivulet's public API: pipelines (`definePipeline`, windows, aggregates), configuration
 * (`defineConfig`), running in-process (`startRivulet`), the log and the errors it raises.
 *
 * @module
 */
export { definePipeline, PipelineBuilder, Stream, KeyedStream, WindowedStream } from './engine/pipeline.js';
export type { PipelineDefinition, StreamOptions, SinkOptions, GeneratorOptions, WindowResult, TopicOutput, TopicsOf } from './engine/pipeline.js';
export type { Extractor } from './engine/graph.js';
export { tumbling, hopping, sliding, session, countWindow } from './engine/windows.js';
export type { WindowSpec, TumblingWindow, HoppingWindow, SlidingWindow, SessionWindow, CountWindow, WindowOptions, EmitMode } from './engine/windows.js';
export { runBounded } from './engine/bounded.js';
export type { BoundedRunOptions, BoundedRunResult, OutputRecord } from './engine/bounded.js';
export { runParallel } from './engine/parallel/run-parallel.js';
export { taskForKey } from './engine/parallel/exchange.js';
export type { ParallelRunOptions, ParallelRunResult, ModuleExport, InputsExport } from './engine/parallel/run-parallel.js';
export { valueState, mapState, listState } from './engine/keyed-state.js';
export type {
  StateOptions, ValueState, MapState, ListState, StateAccessors, StateDescriptor,
  ValueStateDescriptor, MapStateDescriptor, ListStateDescriptor,
} from './engine/keyed-state.js';
export type { ProcessFunction, ProcessContext, TimerInfo, Timers } from './engine/operators/process.js';
export type { TableJoinMode } from './engine/operators/table-join.js';
export { count, sum, min, max, avg, distinctCount, quantile, quantiles, median, topN } from './engine/aggregates.js';
export type {
  Aggregate, AggregateResults, DistinctCountOptions, DistinctCountAccumulator, QuantileOptions, QuantileAccumulator, BucketStore,
  TopNOptions, TopNAccumulator,
} from './engine/aggregates.js';
export { DEAD_LETTER_TOPIC } from './engine/task.js';
export type { TaskStatus } from './engine/task.js';
export { defineConfig } from './cli/config.js';
export type { RivuletConfig } from './cli/config.js';
export { startRivulet } from './cli/node.js';
export type { RivuletOptions, RunningRivulet } from './cli/node.js';
export type { CorsOptions } from './serve/cors.js';
export type { AuthOptions, ApiKeyOptions, JwtOptions, RateLimitOptions } from './serve/auth/auth-options.js';
export { AuthError } from './serve/auth/authenticator.js';
export type { AuthErrorCode } from './serve/auth/authenticator.js';
export { RateLimitedError } from './serve/auth/rate-limiter.js';
export type { Log, TopicConfig, TopicInfo, FsyncPolicy, StartPosition, ResolvedTopicConfig } from './log/log.js';
export { resolveStart } from './log/log.js';
export { EmbeddedLog } from './log/embedded/embedded-log.js';
export type { EmbeddedLogOptions, EmbeddedLogStats } from './log/embedded/embedded-log.js';
export { partitionForKey, murmur2 } from './log/partitioner.js';
export type { AppendRecord, LogRecord, RecordPosition, JsonValue } from './core/record.js';
export type { Duration } from './core/duration.js';
export {
  RivuletError,
  UnknownTopicError,
  TopicExistsError,
  TopicInUseError,
  TopicOwnedError,
  ServerUnreachableError,
  ApiError,
  InvalidArgumentError,
  InvalidEventError,
  CorruptDataError,
  StorageError,
  LogLockedError,
  PipelineDefinitionError,
  TaskFailedError,
} from './core/errors.js';
export type { CorruptRange } from './core/errors.js';
export type { StateBackendOptions } from './state/state-backend.js';
export { postgresSink } from './connectors/postgres-sink.js';
export type { PostgresSinkOptions } from './connectors/postgres-sink.js';
export type { SinkConnector, RunningSink, SinkStatus } from './connectors/sink.js';
export { StateMismatchError } from './state/state-backend.js';
export { OutputFenceError } from './engine/checkpoint/epoch-outputs.js';
export { CheckpointReadError } from './engine/checkpoint/checkpoint-file.js';
