/**
 * Every error Rivulet raises is a {@link RivuletError}: it has a stable `code` that programs can
 * switch on, a `name` for logs, and the underlying `cause` when one exists.
 *
 * @example
 * ```ts
 * try { await log.read('nope', 0, 0, 10); }
 * catch (e) { if (e instanceof RivuletError && e.code === 'unknown_topic') console.log(e.message); }
 * ```
 */
export class RivuletError extends Error {
  override name = 'RivuletError';
  /** A stable, machine-readable identifier such as `unknown_topic` or `invalid_event_time`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A topic that does not exist was named. */
export class UnknownTopicError extends RivuletError {
  override name = 'UnknownTopicError';
  constructor(readonly topic: string) {
    super('unknown_topic', `topic '${topic}' does not exist`);
  }
}

/** A request named something that is wrong: a bad argument, option or input. */
export class InvalidArgumentError extends RivuletError {
  override name = 'InvalidArgumentError';
  constructor(message: string, code = 'invalid_argument', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** One event of an ingested batch was refused; `field` names the offending part of the event. */
export class InvalidEventError extends RivuletError {
  override name = 'InvalidEventError';
  constructor(code: string, message: string, readonly field?: string) {
    super(code, message);
  }
}

/** Stored data failed its integrity check (CRC mismatch, torn write). */
export class CorruptDataError extends RivuletError {
  override name = 'CorruptDataError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('corrupt_data', message, options);
  }
}

/** The storage below the log failed (disk full, permission denied). */
export class StorageError extends RivuletError {
  override name = 'StorageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_error', message, options);
  }
}

/** A pipeline definition is inconsistent (duplicate names, reserved fields, wrong options). */
export class PipelineDefinitionError extends RivuletError {
  override name = 'PipelineDefinitionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_pipeline', message, options);
  }
}
