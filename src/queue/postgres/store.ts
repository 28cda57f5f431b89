import type pg from 'pg';
import { IdempotencyConflictError, OwnerQueueFullError, QueueFullError } from '../../errors.js';
import { newTaskId } from '../../ids.js';
import type {
  EnqueueOptions, ListOptions, NewTask, QueueStats, TaskEventType, TaskPage, TaskProgress, TaskRecord, TaskStore,
} from '../../interfaces.js';
import { cursorOf, seqBefore } from '../cursor.js';
import { storageKeysOf } from '../taskRow.js';
import { transaction } from './pool.js';
import { pgRowToTask, type PgTaskRow } from './rows.js';
import { LOCKS } from './schema.js';

/** Where a committed task's ticket and events go (BullMQ in a fleet). Both are hints: the row is the truth. */
export interface FleetSignals {
  /**
   * Adds the dispatch ticket of a queued task (handed out after delayMs, for a deferred one).
   * May fail: the reconciler re-adds missing tickets.
   */
  ticket(taskId: string, delayMs?: number): Promise<void>;
  /** Replaces the ticket of a task taken back from a dead worker (see Tickets.renew). */
  renew(taskId: string): Promise<void>;
  publish(type: TaskEventType, taskId: string, progress?: TaskProgress): void;
}

/**
 * The fleet's task store on PostgreSQL: the same rules as the SQLite store, statement for
 * statement. A committed row is the acceptance; the ticket on Redis follows it, and a lost
 * ticket only delays the task (see reconcile.ts).
 */
export class PgTaskStore implements TaskStore {
  readonly name = 'postgres';

  constructor(private readonly pool: pg.Pool, private readonly signals: FleetSignals, private readonly now: () => number = Date.now) {}

  async enqueue(input: NewTask, opts: EnqueueOptions = {}): Promise<{ task: TaskRecord; created: boolean }> {
    const owner = input.owner ?? 'anonymous';
    const { row, created } = await transaction(this.pool, async (c) => {
      // One enqueue at a time across the fleet, so the admission count and the idempotency
      // check cannot be overtaken by a concurrent submit (the same guarantee as SQLite's IMMEDIATE).
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.enqueue]);
      if (input.idempotencyKey) {
        const { rows } = await c.query<PgTaskRow>('SELECT * FROM tasks WHERE owner = $1 AND idempotency_key = $2', [owner, input.idempotencyKey]);
        const existing = rows[0];
        if (existing && input.requestHash && existing.request_hash && existing.request_hash !== input.requestHash) {
          throw new IdempotencyConflictError(existing.id);
        }
        if (existing) return { row: existing, created: false };
      }
      if (opts.maxQueued !== undefined) {
        const { rows } = await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM tasks WHERE state = 'queued'`);
        if (rows[0].n >= opts.maxQueued) throw new QueueFullError(rows[0].n);
      }
      if (opts.maxQueuedPerOwner !== undefined) {
        const { rows } = await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM tasks WHERE state = 'queued' AND owner = $1`, [owner]);
        if (rows[0].n >= opts.maxQueuedPerOwner) throw new OwnerQueueFullError(owner, rows[0].n, opts.maxQueuedPerOwner);
      }
      const { rows } = await c.query<PgTaskRow>(
        `INSERT INTO tasks (id, kind, state, params, input_key, mask_key, max_attempts, owner, idempotency_key, request_hash, webhook_url, created_at)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
        [newTaskId(), input.kind, JSON.stringify(input.params), input.inputKey ?? null, input.maskKey ?? null, input.maxAttempts ?? 3,
          owner, input.idempotencyKey ?? null, input.requestHash ?? null, input.webhookUrl ?? null, this.now()],
      );
      return { row: rows[0], created: true };
    });
    if (created) {
      await this.signals.ticket(row.id);
      this.signals.publish('queued', row.id);
    }
    return { task: pgRowToTask(row), created };
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.pool.query<PgTaskRow>('SELECT * FROM tasks WHERE id = $1', [id]);
    return rows[0] && pgRowToTask(rows[0]);
  }

  async position(id: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ position: number }>(
      `SELECT (SELECT COUNT(*)::int FROM tasks q WHERE q.state = 'queued' AND q.seq < t.seq) AS position
       FROM tasks t WHERE t.id = $1 AND t.state = 'queued'`, [id]);
    return rows[0]?.position;
  }

  /** Newest first, keyset-paginated on seq; the cursor is the base-36 seq, as in SQLite. */
  async list(opts: ListOptions): Promise<TaskPage> {
    const before = seqBefore(opts.cursor);
    const states = opts.state === undefined ? null : Array.isArray(opts.state) ? [...opts.state] : [opts.state];
    const { rows } = await this.pool.query<PgTaskRow>(
      `SELECT * FROM tasks WHERE seq < $1 AND ($2::text[] IS NULL OR state = ANY($2)) AND ($3::text IS NULL OR owner = $3)
       ORDER BY seq DESC LIMIT $4`, [before, states, opts.owner ?? null, opts.limit + 1]);
    const page = rows.slice(0, opts.limit);
    return {
      tasks: page.map(pgRowToTask),
      nextCursor: rows.length > opts.limit ? cursorOf(page[page.length - 1].seq) : null,
    };
  }

  async cancel(id: string): Promise<TaskRecord | undefined> {
    const outcome = await transaction(this.pool, async (c) => {
      const { rows } = await c.query<PgTaskRow>('SELECT state, cancel_requested FROM tasks WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0];
      if (!row) return undefined;
      if (row.state === 'queued') {
        await c.query(
          `UPDATE tasks SET state = 'canceled', finished_at = $2, claim_token = NULL, lease_expires_at = NULL WHERE id = $1`, [id, this.now()]);
        return 'canceled' as const;
      }
      if (row.state === 'running' && !row.cancel_requested) {
        await c.query('UPDATE tasks SET cancel_requested = TRUE WHERE id = $1', [id]);
        return 'cancel_requested' as const;
      }
      return 'unchanged' as const;
    });
    if (outcome === undefined) return undefined;
    // Every worker hears this; the one holding the task fires its claim's signal.
    if (outcome !== 'unchanged') this.signals.publish(outcome, id);
    return this.get(id);
  }

  /**
   * One statement, so only a row that is final when it runs goes (a racing cancel or finish
   * cannot be overtaken). Its webhook_deliveries row goes with it (ON DELETE CASCADE).
   * No ticket or event: a finished task has no ticket left, and nothing waits on it.
   */
  async remove(id: string): Promise<{ keys: string[] } | undefined> {
    const { rows } = await this.pool.query<Pick<PgTaskRow, 'result' | 'input_key' | 'mask_key'>>(
      `DELETE FROM tasks WHERE id = $1 AND state IN ('completed', 'failed', 'canceled') RETURNING result, input_key, mask_key`, [id]);
    return rows[0] && { keys: storageKeysOf(rows[0]) };
  }

  async stats(): Promise<QueueStats> {
    const { rows } = await this.pool.query<{ state: string; n: number }>(
      `SELECT state, COUNT(*)::int AS n FROM tasks WHERE state IN ('queued', 'running') GROUP BY state`);
    const count = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
    return { queued: count('queued'), running: count('running') };
  }
}
