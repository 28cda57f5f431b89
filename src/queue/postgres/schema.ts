import type pg from 'pg';
import { WEBHOOK_DELIVERIES_DDL } from '../../webhooks/postgresSchema.js';

/** Advisory lock keys (pg_advisory_lock). Constant, so every node contends for the same ones. */
export const LOCKS = { migrate: 7_301_001, enqueue: 7_301_002, leader: 7_301_003 } as const;

/**
 * Schema migrations for the fleet's task records, applied in order, one transaction each,
 * under an advisory lock so that nodes starting together migrate once. Append only. The
 * tasks table mirrors the SQLite one column for column (times are epoch ms in BIGINT).
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE tasks (
     seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, state TEXT NOT NULL, params JSONB NOT NULL,
     input_key TEXT, mask_key TEXT, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
     claim_token TEXT, worker_id TEXT, lease_expires_at BIGINT, progress_step INTEGER, progress_total INTEGER,
     result JSONB, error JSONB, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE, owner TEXT NOT NULL DEFAULT 'anonymous',
     idempotency_key TEXT, request_hash TEXT, webhook_url TEXT, created_at BIGINT NOT NULL, started_at BIGINT,
     finished_at BIGINT, expired_at BIGINT
   );
   CREATE INDEX tasks_by_state ON tasks(state, seq);
   CREATE INDEX tasks_by_owner ON tasks(owner, seq);
   CREATE UNIQUE INDEX tasks_idempotency ON tasks(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX tasks_finished ON tasks(finished_at) WHERE finished_at IS NOT NULL AND expired_at IS NULL;
   CREATE INDEX tasks_running_lease ON tasks(lease_expires_at) WHERE state = 'running';
   CREATE INDEX tasks_tombstones ON tasks(expired_at) WHERE expired_at IS NOT NULL;`,
  WEBHOOK_DELIVERIES_DDL,
  // #3 Deferral after a transient local fault (src/queue/deferral.ts), and the key indexes of the orphan sweep (as SQLite's #5).
  `ALTER TABLE tasks ADD COLUMN not_before BIGINT;
   ALTER TABLE tasks ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX tasks_input_key ON tasks(input_key) WHERE input_key IS NOT NULL;
   CREATE INDEX tasks_mask_key ON tasks(mask_key) WHERE mask_key IS NOT NULL;`,
];

export async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCKS.migrate]);
    await client.query('CREATE TABLE IF NOT EXISTS zimage_schema_version (version INTEGER NOT NULL)');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM zimage_schema_version');
    let version = rows[0]?.version ?? 0;
    if (!rows.length) await client.query('INSERT INTO zimage_schema_version (version) VALUES (0)');
    for (; version < MIGRATIONS.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[version]);
        await client.query('UPDATE zimage_schema_version SET version = $1', [version + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrate]).catch(() => undefined);
    client.release();
  }
}
