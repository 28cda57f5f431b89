/**
 * Typed errors. `ApiError` carries everything the HTTP layer needs to answer in
 * the one error shape: {"error": {"message", "type", "code", "param"}}.
 * Engine and queue errors are mapped to task failures by the worker.
 */

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'unavailable_error';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly type: ApiErrorType = typeForStatus(statusCode),
    /** Seconds, sent as Retry-After where waiting helps. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function typeForStatus(status: number): ApiErrorType {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'unavailable_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export const invalid = (code: string, message: string, param: string | null = null) =>
  new ApiError(400, code, message, param);

/*
 * Domain errors: thrown below HTTP (stores, task service) and mapped to HTTP answers in one
 * table, src/http/errors.ts.
 */

/** The queue holds as many waiting tasks as it may (ZIMAGE_MAX_QUEUE). */
export class QueueFullError extends Error {
  constructor(readonly queued: number, /** Seconds worth waiting before a retry, where known. */ readonly retryAfterSeconds?: number) {
    super(`the queue is full (${queued} tasks waiting)`);
    this.name = 'QueueFullError';
  }
}

/**
 * The data directory or the image storage has no room left (below ZIMAGE_MIN_FREE_MB, or a write
 * failed for lack of space). New work is refused with 507 until space returns; accepted tasks wait.
 */
export class StorageFullError extends Error {
  constructor(readonly detail: string, /** Seconds worth waiting before a retry. */ readonly retryAfterSeconds = 30, options?: { cause?: unknown }) {
    super(`storage is full: ${detail}`, options);
    this.name = 'StorageFullError';
  }
}

/**
 * A storage operation of a running task failed for a reason that passes (too many open files,
 * an I/O error, no space): the worker hands the task back for later instead of failing it.
 */
export class TransientStorageError extends Error {
  constructor(readonly code: string, readonly operation: string, options?: { cause?: unknown }) {
    super(`${operation} failed (${code})`, options);
    this.name = 'TransientStorageError';
  }
}

/** One caller (API key) has as many waiting tasks as it may (ZIMAGE_MAX_QUEUED_PER_KEY); others still can submit. */
export class OwnerQueueFullError extends Error {
  constructor(
    readonly owner: string,
    readonly queued: number,
    readonly limit: number,
    /** Seconds worth waiting before a retry, where known. */ readonly retryAfterSeconds?: number,
  ) {
    super(`${owner} has ${queued} tasks waiting (limit ${limit})`);
    this.name = 'OwnerQueueFullError';
  }
}

/** A cancel reached a task that had already finished. */
export class TaskFinishedError extends Error {
  constructor(readonly taskId: string, readonly state: string) {
    super(`task ${taskId} has already finished (${state})`);
    this.name = 'TaskFinishedError';
  }
}

/** A delete reached a task that is still queued or running (those are canceled, not deleted). */
export class TaskNotFinishedError extends Error {
  constructor(readonly taskId: string, readonly state: string) {
    super(`task ${taskId} has not finished (${state})`);
    this.name = 'TaskNotFinishedError';
  }
}

/** A list cursor the stores did not make. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

/** An idempotency key was sent again with a different request. */
export class IdempotencyConflictError extends Error {
  constructor(readonly taskId: string) {
    super(`idempotency key already used for task ${taskId} with a different request`);
    this.name = 'IdempotencyConflictError';
  }
}

/** A worker wrote with a claim token that is no longer current (the task was reclaimed or canceled). */
export class LostClaimError extends Error {
  constructor(readonly taskId: string) {
    super(`claim on task ${taskId} is no longer held by this worker`);
    this.name = 'LostClaimError';
  }
}

/**
 * An engine failure with a stable code for the task's `error.code`.
 * `retryable` says whether running the task again may succeed (a crash may; bad input won't).
 */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** Thrown by engines when the abort signal fired. */
export class CanceledError extends Error {
  constructor() {
    super('canceled');
    this.name = 'CanceledError';
  }
}

/** The engine cannot start at all (missing Python, torch, GPU...). Startup fails with this message. */
export class EngineUnavailableError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}
