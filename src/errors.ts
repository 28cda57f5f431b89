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
