/**
 * Exit codes, and how each failure becomes one. Scripts branch on these, so each means one thing
 * to do: 1 look at the task, 2 fix the command, 3 retry later (or fix --url), 4 fix the key.
 */
import { ApiResponseError, ServerUnreachableError } from '../../client/index.js';
import { UsageError } from './args.js';

export const EXIT = {
  ok: 0,
  /** The task failed or was canceled (the server's error code and message are printed). */
  taskFailed: 1,
  /** Bad usage, or input the server refused (400, 404, 409, 413, 415, ...: its message says what to do). */
  usage: 2,
  /** No answer from the server (down, wrong address, timeout) or it is overloaded (5xx, 429). */
  unreachable: 3,
  /** The server refused the API key (401/403). */
  auth: 4,
  /** Ctrl-C while waiting (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    done
  1    the task failed or was canceled (the server's error code and message are printed)
  2    bad usage, or input the server refused (400, 404, 409, 413, 415, ...; its message says what to do)
  3    the server is unreachable (down, wrong --url, no answer in time) or overloaded (5xx, 429)
  4    authentication refused (401): pass --api-key or set ZIMAGE_API_KEY
  130  interrupted (Ctrl-C) while waiting; the task keeps running unless you chose to cancel it`;

/** A local input the CLI cannot use (a missing image file, an unwritable output): exit 2. */
export class InputError extends Error {
  override name = 'InputError';
}

export interface Failure {
  code: number;
  /** The lines to print after "zimage: ". */
  message: string;
  /** For --json: {"error": {...}}. */
  detail: { code: string; message: string; status?: number; param?: string | null };
}

export function failureOf(err: unknown): Failure {
  if (err instanceof UsageError) {
    const hint = err.command ? `run "zimage help ${err.command}" for its arguments and options` : 'run "zimage help" for the commands';
    return { code: EXIT.usage, message: `${err.message}\n  ${hint}`, detail: { code: 'usage', message: err.message } };
  }
  if (err instanceof InputError) return { code: EXIT.usage, message: err.message, detail: { code: 'input', message: err.message } };
  if (err instanceof ServerUnreachableError) {
    return { code: EXIT.unreachable, message: err.message, detail: { code: 'server_unreachable', message: err.message } };
  }
  if (err instanceof ApiResponseError) {
    const detail = { code: err.code, message: err.message, status: err.status, param: err.param };
    if (err.status === 401 || err.status === 403) {
      return { code: EXIT.auth, message: `${err.message}\n  pass the key with --api-key KEY or set ZIMAGE_API_KEY`, detail };
    }
    const later = err.status >= 500 || err.status === 429;
    const retry = later && err.retryAfterSeconds ? ` (the server asks to retry in ${err.retryAfterSeconds} s)` : '';
    return { code: later ? EXIT.unreachable : EXIT.usage, message: `${err.message}${retry} [HTTP ${err.status} ${err.code}]`, detail };
  }
  // A bug here, not the user's doing: the stack helps whoever reports it.
  const message = (err as Error)?.stack ?? String(err);
  return { code: EXIT.taskFailed, message, detail: { code: 'internal', message: (err as Error)?.message ?? String(err) } };
}
