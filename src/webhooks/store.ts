/**
 * Webhook deliveries in SQLite (table `webhook_deliveries`, schema migration #2), in the
 * same database as the tasks, so a delivery outlives a crash or restart.
 *
 * A delivery row goes through:
 *   waiting   — the task was submitted with a webhook_url and is not final yet (the row keeps
 *               the base URL of the submitting request, for the image links of the body)
 *   pending   — the task is final; next_attempt_at says when the next attempt is due
 *   delivered — a 2xx answer arrived;  failed — attempts ran out, or the target was refused
 * Publicly "waiting" reads as "pending" with no next_attempt_at.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { WebhookAttempt, WebhookSummary } from '../tasks/service.js';

export type DeliveryStatus = 'waiting' | 'pending' | 'delivered' | 'failed';

export interface Delivery {
  /** Also the `webhook-id` header: one message, the same id on every retry. */
  id: string;
  taskId: string;
  url: string;
  baseUrl: string | null;
  status: DeliveryStatus;
  attempts: WebhookAttempt[];
  /** Epoch ms; null unless pending. */
  nextAttemptAt: number | null;
}

interface DeliveryRow {
  id: string;
  task_id: string;
  url: string;
  base_url: string | null;
  status: string;
  attempts: string;
  next_attempt_at: number | null;
}

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  taskId: row.task_id,
  url: row.url,
  baseUrl: row.base_url,
  status: row.status as DeliveryStatus,
  attempts: JSON.parse(row.attempts) as WebhookAttempt[],
  nextAttemptAt: row.next_attempt_at,
});

export const newMessageId = (): string => `msg_${randomBytes(16).toString('hex')}`;

function prepare(db: Database.Database) {
  return {
    register: db.prepare(
      `INSERT INTO webhook_deliveries (id, task_id, url, base_url, status, created_at, updated_at)
       VALUES (@id, @task_id, @url, @base_url, 'waiting', @now, @now)
       ON CONFLICT(task_id) DO UPDATE SET base_url = COALESCE(base_url, excluded.base_url)`,
    ),
    arm: db.prepare(
      `INSERT INTO webhook_deliveries (id, task_id, url, status, next_attempt_at, created_at, updated_at)
       VALUES (@id, @task_id, @url, 'pending', @now, @now, @now)
       ON CONFLICT(task_id) DO UPDATE SET status = 'pending', next_attempt_at = @now, updated_at = @now
       WHERE status = 'waiting'`,
    ),
    // Final tasks with a webhook whose delivery was never armed (a crash between the task's
    // final write and the arming, or a missed event). Expired tasks are left alone.
    unarmed: db.prepare(
      `SELECT t.id AS task_id, t.webhook_url AS url FROM tasks t
       LEFT JOIN webhook_deliveries d ON d.task_id = t.id
       WHERE t.webhook_url IS NOT NULL AND t.state IN ('completed', 'failed', 'canceled') AND t.expired_at IS NULL
         AND (d.task_id IS NULL OR d.status = 'waiting')
       ORDER BY t.seq LIMIT ?`,
    ),
    due: db.prepare(
      `SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
    ),
    byId: db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?'),
    byTask: db.prepare('SELECT * FROM webhook_deliveries WHERE task_id = ?'),
    record: db.prepare(
      `UPDATE webhook_deliveries SET attempts = @attempts, status = @status, next_attempt_at = @next, updated_at = @now
       WHERE id = @id AND status = 'pending'`,
    ),
  };
}

export class WebhookStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database) {
    this.sql = prepare(db);
  }

  /** A task with a webhook was submitted: remember its link base until the task is final. */
  register(taskId: string, url: string, baseUrl: string | null, now: number): void {
    this.sql.register.run({ id: newMessageId(), task_id: taskId, url, base_url: baseUrl, now });
  }

  /** The task is final: its delivery is due now. False if it was armed before (each task sends once). */
  arm(taskId: string, url: string, now: number): boolean {
    return this.sql.arm.run({ id: newMessageId(), task_id: taskId, url, now }).changes > 0;
  }

  unarmed(limit: number): Array<{ taskId: string; url: string }> {
    const rows = this.sql.unarmed.all(limit) as Array<{ task_id: string; url: string }>;
    return rows.map((r) => ({ taskId: r.task_id, url: r.url }));
  }

  due(now: number, limit: number): Delivery[] {
    return (this.sql.due.all(now, limit) as DeliveryRow[]).map(toDelivery);
  }

  byTask(taskId: string): Delivery | undefined {
    const row = this.sql.byTask.get(taskId) as DeliveryRow | undefined;
    return row && toDelivery(row);
  }

  /**
   * Appends an attempt and moves the delivery on, atomically. Changes nothing (false) unless
   * the delivery is still pending, so one attempt can never be recorded twice.
   */
  record(id: string, attempt: WebhookAttempt, next: { status: 'pending' | 'delivered' | 'failed'; nextAttemptAt: number | null }, now: number): boolean {
    return this.db.transaction(() => {
      const row = this.sql.byId.get(id) as DeliveryRow | undefined;
      if (!row || row.status !== 'pending') return false;
      const attempts = [...(JSON.parse(row.attempts) as WebhookAttempt[]), attempt];
      return this.sql.record.run({ id, attempts: JSON.stringify(attempts), status: next.status, next: next.nextAttemptAt, now }).changes > 0;
    }).immediate();
  }

  /** The delivery as the task's `webhook` field shows it. */
  summary(taskId: string): WebhookSummary | undefined {
    const d = this.byTask(taskId);
    if (!d) return undefined;
    return {
      url: d.url,
      status: d.status === 'waiting' ? 'pending' : d.status,
      attempts: d.attempts,
      nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
    };
  }
}
