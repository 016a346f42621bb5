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

/** Creating a topic that already exists; use `updateTopicConfig` (or `PATCH /v1/topics/:topic/config`) to change one. */
export class TopicExistsError extends RivuletError {
  override name = 'TopicExistsError';
  constructor(readonly topic: string, detail = '') {
    super('topic_exists', `topic '${topic}' already exists${detail}`);
  }
}

/** Deleting a topic that running pipelines read or write: they would fail, so the pipelines have to go first. */
export class TopicInUseError extends RivuletError {
  override name = 'TopicInUseError';
  constructor(readonly topic: string, readonly pipelines: string[]) {
    super('topic_in_use', `topic '${topic}' is used by pipeline${pipelines.length === 1 ? '' : 's'} ${pipelines.map((p) => `'${p}'`).join(', ')}; remove ${pipelines.length === 1 ? 'it' : 'them'} from Rivulet and restart it before deleting the topic`);
  }
}

/**
 * Appending to a topic that a pipeline writes: its results are exactly-once because it is the topic's
 * only writer, so nothing else may append there.
 */
export class TopicOwnedError extends RivuletError {
  override name = 'TopicOwnedError';
  constructor(readonly topic: string, readonly pipeline: string) {
    super('topic_owned', `topic '${topic}' is written by pipeline '${pipeline}' and takes no other appends; write the events to another topic`);
  }
}

/**
 * A conditional append found its partition ending elsewhere than it expected: another writer appended
 * first (a second instance of the same task, a process that lost its lease). Nothing of it was stored.
 */
export class OffsetConflictError extends RivuletError {
  override name = 'OffsetConflictError';
  constructor(readonly topic: string, readonly partition: number, readonly expected: number, readonly actual: number | undefined, detail = '') {
    super('offset_conflict', `appending to '${topic}' partition ${partition} at offset ${expected}: the partition ends at ${actual ?? 'another offset'}${detail}; another writer appended there`);
  }
}

/** The log directory is held by another process (a running Rivulet): one process at a time may open it. */
export class LogLockedError extends RivuletError {
  override name = 'LogLockedError';
  constructor(readonly dir: string, readonly pid: number, hint = '') {
    super('log_locked', `the log directory ${dir} is in use by process ${pid}${hint}`);
  }
}

/** No Rivulet answered at a URL (the CLI talking to a server that is not running, or not reachable). */
export class ServerUnreachableError extends RivuletError {
  override name = 'ServerUnreachableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('server_unreachable', message, options);
  }
}

/** An error answer of Rivulet's HTTP API, raised again by a client (the CLI) with the server's code and message. */
export class ApiError extends RivuletError {
  override name = 'ApiError';
  constructor(code: string, message: string, readonly status: number) {
    super(code, message);
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

/** Where a read met data that failed its integrity check, and where a reader that accepts the loss can go on. */
export interface CorruptRange {
  /** The first offset that could not be served. */
  offset: number;
  /** The first offset after the damage: a reader that skips the damaged records continues here. */
  resumeOffset: number;
}

/**
 * Stored data failed its integrity check (CRC mismatch, torn write). The damaged records are never
 * served; a read that meets them first returns the intact records before them, and the next read
 * fails with this error. `range` (when known) tells a consumer where it may skip to.
 *
 * @example
 * ```ts
 * try { records = await log.read('payments', 0, next, 500); }
 * catch (e) {
 *   if (e instanceof CorruptDataError && e.range) next = e.range.resumeOffset; // accept the loss, go on
 *   else throw e;
 * }
 * ```
 */
export class CorruptDataError extends RivuletError {
  override name = 'CorruptDataError';
  readonly range: CorruptRange | undefined;
  constructor(message: string, options?: { cause?: unknown; range?: CorruptRange }) {
    super('corrupt_data', message, options);
    this.range = options?.range;
  }
}

/**
 * The storage below the log failed: disk full, permission denied, a read-only file system, an I/O
 * error. `errno` is the operating system's code (`ENOSPC`, `EACCES`, `EROFS`, `EIO`…) when there is one.
 * Nothing of the failed append is stored: what was acknowledged before stays intact.
 */
export class StorageError extends RivuletError {
  override name = 'StorageError';
  readonly errno: string | undefined;
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_error', message, options);
    const code = (options?.cause as { code?: unknown } | undefined)?.code;
    this.errno = typeof code === 'string' ? code : undefined;
  }
}

const ERRNO_MEANING: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  EIO: 'an I/O error',
  EFBIG: 'the file is larger than allowed',
  EMFILE: 'too many open files',
  ENOENT: 'no such file or directory',
};

/**
 * A {@link StorageError} for a failed file operation: `<what> <path> failed: <meaning> (<ERRNO>)`, so that
 * an operator sees at once which file and why.
 */
export function storageError(what: string, file: string, cause: unknown): StorageError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const reason = typeof code === 'string' ? `${ERRNO_MEANING[code] ?? (cause as Error).message} (${code})` : String((cause as Error)?.message ?? cause);
  return new StorageError(`${what} ${file} failed: ${reason}`, { cause });
}

/** A pipeline definition is inconsistent (duplicate names, reserved fields, wrong options). */
export class PipelineDefinitionError extends RivuletError {
  override name = 'PipelineDefinitionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_pipeline', message, options);
  }
}

/**
 * A task of a parallel run failed (`task_failed`): `task` is its number, `cause` the error it raised
 * (with that error's `name`, `code` and stack, rebuilt from the worker thread's report).
 */
export class TaskFailedError extends RivuletError {
  override name = 'TaskFailedError';
  constructor(readonly task: number, message: string, options?: { cause?: unknown }) {
    super('task_failed', `task ${task}: ${message}`, options);
  }
}
