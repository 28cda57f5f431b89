/**
 * How long a task waits after a transient local fault (a full disk, too many open files, an I/O
 * error while storing its images): no attempt is spent, and each deferral waits twice as long as
 * the one before (1 s, 2 s, 4 s, ... at most a minute), so a fault that lasts costs a few writes a
 * minute rather than the task's attempts in milliseconds. Both backends use this one policy.
 */
import type { TaskError } from '../interfaces.js';

export const DEFER_BASE_MS = 1000;
export const DEFER_MAX_MS = 60_000;
/**
 * Past this many deferrals in a row (about an hour of a fault that does not pass) the task fails
 * with the fault's error: a disk that stays broken needs its operator, not more retries.
 */
export const MAX_DEFERRALS = 60;

/** The wait before a task deferred for the `deferral`-th time (1-based) may be claimed again, with ±10% jitter so that a fleet does not retry in step. */
export function deferDelayMs(deferral: number, random: () => number = Math.random): number {
  const base = Math.min(DEFER_MAX_MS, DEFER_BASE_MS * 2 ** Math.max(0, Math.min(deferral - 1, 30)));
  return Math.round(base * (0.9 + 0.2 * random()));
}

export interface DeferOutcome {
  /** queued (back in line after delayMs), canceled (a cancel was asked meanwhile) or failed (deferrals exhausted). */
  state: 'queued' | 'canceled' | 'failed';
  delayMs: number;
}

/** The failure recorded when the deferrals ran out: the fault's own error, saying how long it lasted. */
export function deferralsExhausted(error: TaskError): TaskError {
  return {
    ...error,
    message: `${error.message} It lasted through ${MAX_DEFERRALS} retries (about an hour), so the task was given up: submit it again once the storage is fixed.`,
  };
}
