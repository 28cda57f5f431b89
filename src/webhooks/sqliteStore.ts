/**
 * Webhook deliveries in SQLite (table `webhook_deliveries`, schema migrations #2 and #4 in
 * src/queue/sqlite/schema.ts), beside the embedded queue's tasks. better-sqlite3 is
 * synchronous: the async methods only fit the WebhookStore interface.
 */
import type Database from 'better-sqlite3';
import type { WebhookAttempt, WebhookSummary } from '../tasks/service.js';
import {
  newLeaseToken, newMessageId, summaryOf, toDelivery,
  type ClaimedDelivery, type Delivery, type DeliveryRow, type NextStep, type WebhookStore,
} from './store.js';


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
    lease: db.prepare(
      `UPDATE webhook_deliveries SET lease_token = @token, next_attempt_at = @until, updated_at = @now WHERE id = @id`,
    ),
    byTask: db.prepare('SELECT * FROM webhook_deliveries WHERE task_id = ?'),
    // The token is cleared with the record, so the same claim cannot record a second attempt.
    record: db.prepare(
      `UPDATE webhook_deliveries
       SET attempts = json_insert(attempts, '$[#]', json(@attempt)), status = @status, next_attempt_at = @next,
           lease_token = NULL, updated_at = @now
       WHERE id = @id AND status = 'pending' AND lease_token = @token`,
    ),
  };
}

export class SqliteWebhookStore implements WebhookStore {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database) {
    this.sql = prepare(db);
  }

  /**
   * Embedded start-up: attempts leased by a process that is gone (crash, or a stop that
   * abandoned them) are due at once instead of after their lease. Safe only while this process
   * holds the data-directory lock, so no other dispatcher can be mid-attempt. Returns how many.
   */
  releaseLeases(now: number): number {
    return this.db.prepare(
      `UPDATE webhook_deliveries SET lease_token = NULL, next_attempt_at = @now, updated_at = @now
       WHERE status = 'pending' AND lease_token IS NOT NULL`,
    ).run({ now }).changes;
  }

  async register(taskId: string, url: string, baseUrl: string | null, now: number): Promise<void> {
    this.sql.register.run({ id: newMessageId(), task_id: taskId, url, base_url: baseUrl, now });
  }

  async arm(taskId: string, url: string, now: number): Promise<boolean> {
    return this.sql.arm.run({ id: newMessageId(), task_id: taskId, url, now }).changes > 0;
  }

  async unarmed(limit: number): Promise<Array<{ taskId: string; url: string }>> {
    const rows = this.sql.unarmed.all(limit) as Array<{ task_id: string; url: string }>;
    return rows.map((r) => ({ taskId: r.task_id, url: r.url }));
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const token = newLeaseToken();
    const until = now + leaseMs;
    // IMMEDIATE: another process on the same file (there is none today) could not claim the same rows.
    return this.db.transaction(() => {
      const due = (this.sql.due.all(now, limit) as DeliveryRow[]).map(toDelivery);
      for (const d of due) this.sql.lease.run({ id: d.id, token, until, now });
      return due.map((d) => ({ ...d, leaseToken: token, nextAttemptAt: until }));
    }).immediate();
  }

  async record(id: string, leaseToken: string, attempt: WebhookAttempt, next: NextStep, now: number): Promise<boolean> {
    return this.sql.record.run({
      id, token: leaseToken, attempt: JSON.stringify(attempt), status: next.status, next: next.nextAttemptAt, now,
    }).changes > 0;
  }

  async byTask(taskId: string): Promise<Delivery | undefined> {
    const row = this.sql.byTask.get(taskId) as DeliveryRow | undefined;
    return row && toDelivery(row);
  }

  async summary(taskId: string): Promise<WebhookSummary | undefined> {
    const d = await this.byTask(taskId);
    return d && summaryOf(d);
  }
}
