import type Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order inside one transaction each. Append only:
 * a database written by an older version is upgraded in place on start.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE tasks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     state TEXT NOT NULL,
     params TEXT NOT NULL,
     input_key TEXT,
     mask_key TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL,
     claim_token TEXT,
     worker_id TEXT,
     lease_expires_at INTEGER,
     progress_step INTEGER,
     progress_total INTEGER,
     result TEXT,
     error TEXT,
     cancel_requested INTEGER NOT NULL DEFAULT 0,
     owner TEXT NOT NULL DEFAULT 'anonymous',
     idempotency_key TEXT,
     webhook_url TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     expired_at INTEGER
   );
   CREATE INDEX tasks_by_state ON tasks(state, seq);
   CREATE INDEX tasks_by_owner ON tasks(owner, seq);
   CREATE UNIQUE INDEX tasks_idempotency ON tasks(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX tasks_finished ON tasks(finished_at) WHERE finished_at IS NOT NULL;`,
  // #2 Webhook deliveries (src/webhooks/store.ts): one row per task with a webhook_url; attempts as a JSON array.
  `CREATE TABLE webhook_deliveries (
     id TEXT PRIMARY KEY,
     task_id TEXT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
     url TEXT NOT NULL,
     base_url TEXT,
     status TEXT NOT NULL,
     attempts TEXT NOT NULL DEFAULT '[]',
     next_attempt_at INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
   CREATE INDEX tasks_with_webhook ON tasks(seq) WHERE webhook_url IS NOT NULL;`,
  // #3 What an idempotent request asked for, so a key reused for another request is refused.
  `ALTER TABLE tasks ADD COLUMN request_hash TEXT;`,
  // #4 The lease of a webhook attempt (src/webhooks/store.ts): only the current claim may record it.
  `ALTER TABLE webhook_deliveries ADD COLUMN lease_token TEXT;`,
  // #5 Deferral after a transient local fault (src/queue/deferral.ts): not claimable before
  // not_before (epoch ms); deferrals counts them apart from attempts. The key indexes let the
  // orphan sweep ask which stored uploads a task still names.
  `ALTER TABLE tasks ADD COLUMN not_before INTEGER;
   ALTER TABLE tasks ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX tasks_input_key ON tasks(input_key) WHERE input_key IS NOT NULL;
   CREATE INDEX tasks_mask_key ON tasks(mask_key) WHERE mask_key IS NOT NULL;`,
];

export function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  let version = row?.version ?? 0;
  if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
  for (; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]);
      db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
    }).immediate();
  }
}
