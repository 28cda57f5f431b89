/**
 * The webhook_deliveries table in Postgres (src/webhooks/postgresStore.ts): the SQLite table
 * of src/queue/sqlite/schema.ts (#2 and #4) with JSONB attempts and BIGINT epoch-ms times.
 * The fleet's task-store migrations (src/queue/postgres/schema.ts) run it right after
 * creating the tasks table, which it references.
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
