/**
 * Webhook deliveries in Postgres (WEBHOOK_DELIVERIES_DDL, src/webhooks/postgresSchema.ts),
 * shared by every API node of a fleet. The SQL is the SQLite store's, statement for
 * statement, except the claim: FOR UPDATE SKIP LOCKED lets dispatchers on several nodes
 * claim at once without waiting on each other or taking the same row.
 */
import type pg from 'pg';
import type { WebhookAttempt, WebhookSummary } from '../tasks/service.js';
import {
  newLeaseToken, newMessageId, summaryOf, toDelivery,
  type ClaimedDelivery, type Delivery, type DeliveryRow, type NextStep, type WebhookStore,
} from './store.js';


export class PostgresWebhookStore implements WebhookStore {
  constructor(private readonly pool: pg.Pool) {}

  async register(taskId: string, url: string, baseUrl: string | null, now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO webhook_deliveries (id, task_id, url, base_url, status, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'waiting', $5, $5)
       ON CONFLICT (task_id) DO UPDATE SET base_url = COALESCE(webhook_deliveries.base_url, excluded.base_url)`,
      [newMessageId(), taskId, url, baseUrl, now],
    );
  }

  async arm(taskId: string, url: string, now: number): Promise<boolean> {
    // One statement: of nodes arming the same task at once, exactly one sees a changed row.
    const res = await this.pool.query(
      `INSERT INTO webhook_deliveries (id, task_id, url, status, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, 'pending', $4, $4, $4)
       ON CONFLICT (task_id) DO UPDATE SET status = 'pending', next_attempt_at = $4, updated_at = $4
       WHERE webhook_deliveries.status = 'waiting'`,
      [newMessageId(), taskId, url, now],
    );
    return (res.rowCount ?? 0) > 0;
  }

  async unarmed(limit: number): Promise<Array<{ taskId: string; url: string }>> {
    const { rows } = await this.pool.query<{ task_id: string; url: string }>(
      `SELECT t.id AS task_id, t.webhook_url AS url FROM tasks t
       LEFT JOIN webhook_deliveries d ON d.task_id = t.id
       WHERE t.webhook_url IS NOT NULL AND t.state IN ('completed', 'failed', 'canceled') AND t.expired_at IS NULL
         AND (d.task_id IS NULL OR d.status = 'waiting')
       ORDER BY t.seq LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ taskId: r.task_id, url: r.url }));
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET lease_token = $4, next_attempt_at = $1::bigint + $3::bigint, updated_at = $1
       WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, limit, leaseMs, newLeaseToken()],
    );
    return rows.map((r) => toDelivery(r) as ClaimedDelivery);
  }

  async record(id: string, leaseToken: string, attempt: WebhookAttempt, next: NextStep, now: number): Promise<boolean> {
    // The token is cleared with the record, so the same claim cannot record a second attempt.
    const res = await this.pool.query(
      `UPDATE webhook_deliveries
       SET attempts = attempts || jsonb_build_array($3::jsonb), status = $4, next_attempt_at = $5, lease_token = NULL, updated_at = $6
       WHERE id = $1 AND status = 'pending' AND lease_token = $2`,
      [id, leaseToken, JSON.stringify(attempt), next.status, next.nextAttemptAt, now],
    );
    return (res.rowCount ?? 0) > 0;
  }

  async byTask(taskId: string): Promise<Delivery | undefined> {
    const { rows } = await this.pool.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE task_id = $1', [taskId]);
    return rows[0] && toDelivery(rows[0]);
  }

  async summary(taskId: string): Promise<WebhookSummary | undefined> {
    const d = await this.byTask(taskId);
    return d && summaryOf(d);
  }
}
