/**
 * The fenced writes of a worker on the Postgres task rows. Every write names the claim token
 * and `state = 'running'`; zero rows changed means the claim was lost (LostClaimError upstairs).
 * One small named function per operation, as in the SQLite statements.
 */
import type pg from 'pg';
import type { TaskError, TaskProgress, TaskResult } from '../../interfaces.js';
import { exhaustedError } from '../sqlite/taskErrors.js';
import { transaction } from './pool.js';
import type { PgTaskRow } from './rows.js';

const FENCE = `id = $1 AND claim_token = $2 AND state = 'running'`;

export type ClaimOutcome =
  | { outcome: 'claimed'; row: PgTaskRow }
  /** The ticket named a task that is not claimable now (final, gone, or held by a live lease): drop the ticket. */
  | { outcome: 'not_claimable' }
  /** The task was failed (attempts spent) or canceled (cancel asked before its worker died) instead. */
  | { outcome: 'finished'; state: 'failed' | 'canceled' }
  /** A deferred task whose ticket came early (re-added by the reconciler): its ticket waits until notBefore. */
  | { outcome: 'deferred'; notBefore: number };

/**
 * Takes a queued task, or a running one whose lease ran out (its worker died and BullMQ's
 * stalled check handed the ticket on before our recovery ran), counting the attempt.
 */
export function claimRow(pool: pg.Pool, id: string, token: string, workerId: string, leaseMs: number, now: number): Promise<ClaimOutcome> {
  return transaction(pool, async (c) => {
    const { rows } = await c.query<PgTaskRow>('SELECT * FROM tasks WHERE id = $1 FOR UPDATE', [id]);
    const row = rows[0];
    const expired = row?.state === 'running' && (row.lease_expires_at ?? 0) < now;
    if (!row || (row.state !== 'queued' && !expired)) return { outcome: 'not_claimable' };
    if (row.state === 'queued' && row.not_before !== null && row.not_before > now) return { outcome: 'deferred', notBefore: row.not_before };
    if (expired && row.cancel_requested) {
      await c.query(`UPDATE tasks SET state = 'canceled', finished_at = $2, claim_token = NULL, lease_expires_at = NULL WHERE id = $1`, [id, now]);
      return { outcome: 'finished', state: 'canceled' };
    }
    if (row.attempts >= row.max_attempts) {
      await c.query(
        `UPDATE tasks SET state = 'failed', error = $2, finished_at = $3, claim_token = NULL, lease_expires_at = NULL WHERE id = $1`,
        [id, JSON.stringify(exhaustedError(row.attempts)), now]);
      return { outcome: 'finished', state: 'failed' };
    }
    const updated = await c.query<PgTaskRow>(
      `UPDATE tasks SET state = 'running', attempts = attempts + 1, claim_token = $2, worker_id = $3, lease_expires_at = $4,
         started_at = COALESCE(started_at, $5), progress_step = NULL, progress_total = NULL, not_before = NULL
       WHERE id = $1 RETURNING *`, [id, token, workerId, now + leaseMs, now]);
    return { outcome: 'claimed', row: updated.rows[0] };
  });
}

/** Extends the lease; returns the cancel flag (a backstop for a missed cancel event), undefined if the claim is lost. */
export async function heartbeatRow(pool: pg.Pool, id: string, token: string, leaseUntil: number): Promise<boolean | undefined> {
  const { rows } = await pool.query<{ cancel_requested: boolean }>(
    `UPDATE tasks SET lease_expires_at = $3 WHERE ${FENCE} RETURNING cancel_requested`, [id, token, leaseUntil]);
  return rows[0]?.cancel_requested;
}

/** Stores live progress (fenced, before any event goes out); returns the cancel flag, undefined if the claim is lost. */
export async function progressRow(pool: pg.Pool, id: string, token: string, p: TaskProgress): Promise<boolean | undefined> {
  const { rows } = await pool.query<{ cancel_requested: boolean }>(
    `UPDATE tasks SET progress_step = $3, progress_total = $4 WHERE ${FENCE} RETURNING cancel_requested`, [id, token, p.step, p.total]);
  return rows[0]?.cancel_requested;
}

export async function finishRow(
  pool: pg.Pool, id: string, token: string, state: 'completed' | 'failed' | 'canceled', out: { result?: TaskResult; error?: TaskError }, now: number,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE tasks SET state = $3, result = $4, error = $5, finished_at = $6, claim_token = NULL, lease_expires_at = NULL WHERE ${FENCE}`,
    [id, token, state, out.result ? JSON.stringify(out.result) : null, out.error ? JSON.stringify(out.error) : null, now]);
  return rowCount === 1;
}

/** Back to queued: a retry (refund 0) or a hand-back at shutdown (refund 1: no attempt spent). */
export async function requeueRow(pool: pg.Pool, id: string, token: string, error: TaskError | null, refund: 0 | 1): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL, attempts = attempts - $4, error = $3
     WHERE ${FENCE}`, [id, token, error ? JSON.stringify(error) : null, refund]);
  return rowCount === 1;
}

/**
 * A transient fault: back to queued with the attempt refunded, the deferral counted, not claimable
 * before notBefore. False if the claim was lost.
 */
export async function deferRow(pool: pg.Pool, id: string, token: string, error: TaskError, notBefore: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL,
       attempts = attempts - 1, deferrals = deferrals + 1, not_before = $4, error = $3
     WHERE ${FENCE}`, [id, token, JSON.stringify(error), notBefore]);
  return rowCount === 1;
}

/** The deferrals so far and the cancel flag of a task, read by its claim holder before it defers. */
export async function deferState(pool: pg.Pool, id: string): Promise<{ deferrals: number; cancelRequested: boolean } | undefined> {
  const { rows } = await pool.query<{ deferrals: number; cancel_requested: boolean }>('SELECT deferrals, cancel_requested FROM tasks WHERE id = $1', [id]);
  return rows[0] && { deferrals: rows[0].deferrals, cancelRequested: rows[0].cancel_requested };
}

export async function retryAllowed(pool: pg.Pool, id: string): Promise<boolean> {
  const { rows } = await pool.query<PgTaskRow>('SELECT attempts, max_attempts, cancel_requested FROM tasks WHERE id = $1', [id]);
  const row = rows[0];
  return !!row && row.attempts < row.max_attempts && !row.cancel_requested;
}

export async function cancelRequested(pool: pg.Pool, id: string): Promise<boolean> {
  const { rows } = await pool.query<{ cancel_requested: boolean }>('SELECT cancel_requested FROM tasks WHERE id = $1', [id]);
  return rows[0]?.cancel_requested ?? false;
}
