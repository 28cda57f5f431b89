/**
 * The worker's side of transient faults: the task error a storage fault is recorded with (seen
 * only if the fault outlasts every deferral), and a short retry of the worker's own final write
 * when the database is what hiccups.
 */
import type { TransientStorageError } from '../errors.js';
import type { TaskError } from '../interfaces.js';
import { isTransientStorageError } from '../storage/faults.js';

const WHAT: Record<string, string> = {
  ENOSPC: 'no space left on the disk',
  EMFILE: 'this process ran out of file descriptors',
  ENFILE: 'the system ran out of file descriptors',
  EIO: 'an I/O error on the disk',
};

export function storageFailure(err: TransientStorageError): TaskError {
  const what = WHAT[err.code] ?? 'a storage error that usually passes';
  return {
    code: err.code === 'ENOSPC' ? 'storage_full' : 'storage_error',
    message: `The server could not finish ${err.operation} (${err.code}: ${what}). This is a fault of the server's storage, not of the request.`,
    retryable: true,
  };
}

/** Waits between tries of a final write that failed for a passing reason: about 7 s in all, well inside a lease. */
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 3000];

/** Runs fn; a transient failure (SQLITE_BUSY, SQLITE_FULL, a dropped connection) is tried again a few times. */
export async function retryTransient<T>(fn: () => Promise<T>, delays: readonly number[] = RETRY_DELAYS_MS): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= delays.length || !isTransientStorageError(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, delays[i]));
    }
  }
}
