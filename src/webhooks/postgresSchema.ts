/**
 * The webhook_deliveries table in Postgres (placeholder written by the fleet store; the webhook
 * store owns this file). Run by src/queue/postgres/schema.ts right after the tasks table.
 */
export const WEBHOOK_DELIVERIES_DDL = `CREATE TABLE webhook_deliveries (
     id TEXT PRIMARY KEY,
     task_id TEXT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
     url TEXT NOT NULL,
     base_url TEXT,
     status TEXT NOT NULL,
     attempts JSONB NOT NULL DEFAULT '[]',
     next_attempt_at BIGINT,
     lease_token TEXT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
   CREATE INDEX tasks_with_webhook ON tasks(seq) WHERE webhook_url IS NOT NULL;`;
