/**
 * When to try a webhook again: exponential backoff with jitter, so a receiver that is down
 * for a while is not hammered, and deliveries that failed together do not retry in lockstep.
 * After 1, 2, 3, ... failed attempts: about 5 s, 25 s, 2 min, 10 min, 52 min, then hourly.
 */
const FIRST_MS = 5_000;
const FACTOR = 5;
const CAP_MS = 3_600_000;
/** ±20 %: spreads retries without making the schedule unpredictable. */
const JITTER = 0.2;

export function retryDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_MS * FACTOR ** Math.max(0, failedAttempts - 1), CAP_MS);
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}
