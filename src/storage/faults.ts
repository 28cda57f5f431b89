/**
 * Which failures of storage (and of the local database beside it) pass by themselves, so that
 * the work is handed back for later instead of failed: a full disk, too many open files, a
 * flaky disk or network. Anything else (a bug, a missing bucket, bad credentials) is real.
 */
import { StorageFullError, TransientStorageError } from '../errors.js';

/** No room: the disk (or a quota) is full. SQLITE_FULL is SQLite's word for it, 53100 (disk_full) Postgres's. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

/** Local errors that pass: descriptors run out, the kernel is busy, the disk hiccups. */
const TRANSIENT_LOCAL = new Set([
  'EMFILE', 'ENFILE', 'EIO', 'EAGAIN', 'EBUSY', 'ENOMEM', 'EINTR', 'ETIMEDOUT',
  'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_NOMEM', 'SQLITE_PROTOCOL',
]);

/** A remote store (S3) that did not answer or asked us to slow down. */
const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH', 'TimeoutError', 'RequestTimeout', 'SlowDown', 'InternalError', 'ServiceUnavailable']);

/**
 * Postgres SQLSTATEs that pass: a lost connection (class 08), insufficient resources (53: disk
 * full, out of memory, too many connections), a server restarting (57P01-03), a serialization
 * failure or deadlock (40001, 40P01).
 */
const TRANSIENT_SQLSTATE = /^(08\w{3}|53\w{3}|57P0[123]|40001|40P01)$/;

/** The error's code: Node's errno name, SQLite's primary code (SQLITE_IOERR_WRITE → SQLITE_IOERR), or an S3 error name. */
export function faultCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: unknown } | null;
  if (!e || typeof e !== 'object') return undefined;
  if (typeof e.code === 'string') return e.code.startsWith('SQLITE_') ? e.code.split('_').slice(0, 2).join('_') : e.code;
  return typeof e.name === 'string' ? e.name : undefined;
}

export function isNoSpaceError(err: unknown): boolean {
  return err instanceof StorageFullError || NO_SPACE.has(faultCode(err) ?? '');
}

/** Whether running the same storage operation again later may succeed. */
export function isTransientStorageError(err: unknown): boolean {
  if (err instanceof TransientStorageError || isNoSpaceError(err)) return true;
  const code = faultCode(err) ?? '';
  if (TRANSIENT_LOCAL.has(code) || TRANSIENT_NETWORK.has(code) || TRANSIENT_SQLSTATE.test(code)) return true;
  // The S3 SDK marks throttling and 5xx answers retryable once its own retries ran out.
  const e = err as { $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  return !!e.$retryable || (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

/**
 * Runs a storage operation of a task; a failure that passes comes out as TransientStorageError
 * (the worker defers the task), any other as it was.
 */
export async function transientOr<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TransientStorageError || !isTransientStorageError(err)) throw err;
    throw new TransientStorageError(isNoSpaceError(err) ? 'ENOSPC' : faultCode(err) ?? 'unknown', operation, { cause: err });
  }
}
