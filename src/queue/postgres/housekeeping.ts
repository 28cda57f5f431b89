import type pg from 'pg';
import type { Housekeeping, TaskResult } from '../../interfaces.js';
import { TOMBSTONE_MS } from '../sqlite/queue.js';
import { EXPIRED_ERROR } from '../sqlite/taskErrors.js';
import { storageKeysOf } from '../taskRow.js';
import { transaction } from './pool.js';
import type { FleetSignals } from './store.js';

/**
 * Maintenance on the Postgres rows: lease recovery and retention. Runs on the leader only
 * (see leader.ts), but every statement is safe to run twice at once anyway.
 */
export class PgHousekeeping implements Housekeeping {
  constructor(private readonly pool: pg.Pool, private readonly signals: FleetSignals, private readonly now: () => number = Date.now) {}

  async recover(): Promise<number> {
    const now = this.now();
    // A cancel asked for before the worker died is honoured rather than run again.
    const canceled = await this.pool.query<{ id: string }>(
      `UPDATE tasks SET state = 'canceled', finished_at = $1, claim_token = NULL, lease_expires_at = NULL
       WHERE state = 'running' AND lease_expires_at < $1 AND cancel_requested RETURNING id`, [now]);
    const requeued = await this.pool.query<{ id: string }>(
      `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL
       WHERE state = 'running' AND lease_expires_at < $1 RETURNING id`, [now]);
    for (const { id } of canceled.rows) this.signals.publish('canceled', id);
    for (const { id } of requeued.rows) {
      await this.signals.renew(id);
      this.signals.publish('requeued', id);
    }
    return canceled.rows.length + requeued.rows.length;
  }

  async expireFinished(before: number): Promise<{ count: number; keys: string[] }> {
    return transaction(this.pool, async (c) => {
      const { rows } = await c.query<{ seq: number; result: TaskResult | null; input_key: string | null; mask_key: string | null }>(
        `SELECT seq, result, input_key, mask_key FROM tasks
         WHERE finished_at IS NOT NULL AND finished_at < $1 AND expired_at IS NULL LIMIT 500 FOR UPDATE SKIP LOCKED`, [before]);
      const keys = rows.flatMap(storageKeysOf);
      if (rows.length) {
        // The tombstone keeps no prompt, webhook or idempotency key: only that the task existed.
        await c.query(
          `UPDATE tasks SET state = 'failed', result = NULL, error = $2, input_key = NULL, mask_key = NULL, expired_at = $3,
             params = params - 'prompt' - 'negative_prompt', webhook_url = NULL, idempotency_key = NULL
           WHERE seq = ANY($1)`, [rows.map((r) => r.seq), JSON.stringify(EXPIRED_ERROR), this.now()]);
      } else {
        await c.query('DELETE FROM tasks WHERE expired_at IS NOT NULL AND expired_at < $1', [this.now() - TOMBSTONE_MS]);
      }
      return { count: rows.length, keys };
    });
  }

  /** Uploads through their indexes; outputs by a scan of the results (on the database server, so no node waits on it). */
  async referencedKeys(keys: readonly string[]): Promise<Set<string>> {
    if (!keys.length) return new Set();
    const { rows } = await this.pool.query<{ key: string }>(
      `SELECT input_key AS key FROM tasks WHERE input_key = ANY($1)
       UNION SELECT mask_key FROM tasks WHERE mask_key = ANY($1)
       UNION SELECT o->>'file' FROM tasks t, jsonb_array_elements(COALESCE(t.result->'outputs', '[]'::jsonb)) o
         WHERE t.result IS NOT NULL AND o->>'file' = ANY($1)`, [[...keys]]);
    return new Set(rows.map((r) => r.key));
  }

  /** Queued tasks in seq order after `afterSeq`, for the ticket reconciler. */
  async queuedIds(afterSeq: number, limit: number): Promise<Array<{ seq: number; id: string }>> {
    const { rows } = await this.pool.query<{ seq: number; id: string }>(
      `SELECT seq, id FROM tasks WHERE state = 'queued' AND seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
    return rows;
  }
}
