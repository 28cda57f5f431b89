/**
 * A fresh schema on a test Postgres server (test/helpers/services.ts) with the tasks table
 * of the fleet's task store and the webhook_deliveries table, as its migrations create them.
 */
import pg from 'pg';
import type { TaskRecord, TaskState } from '../../src/interfaces.js';
import { WEBHOOK_DELIVERIES_DDL } from '../../src/webhooks/postgresSchema.js';

/** Exactly the fleet task store's tasks table (src/queue/postgres/schema.ts). */
export const TASKS_DDL = `CREATE TABLE tasks (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, state TEXT NOT NULL,
  params JSONB NOT NULL, input_key TEXT, mask_key TEXT, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
  claim_token TEXT, worker_id TEXT, lease_expires_at BIGINT, progress_step INTEGER, progress_total INTEGER, result JSONB,
  error JSONB, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE, owner TEXT NOT NULL DEFAULT 'anonymous', idempotency_key TEXT,
  request_hash TEXT, webhook_url TEXT, created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT, expired_at BIGINT)`;

let n = 0;

/**
 * A fresh schema holding both tables, as a URL whose connections use it (search_path):
 * as isolated as a new database for these tests, and much cheaper to create.
 */
export async function freshSchema(serverUrl: string): Promise<string> {
  const schema = `webhooks_${process.pid}_${++n}`;
  const url = new URL(serverUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(TASKS_DDL);
    await client.query(WEBHOOK_DELIVERIES_DDL);
  } finally {
    await client.end();
  }
  return url.toString();
}

export async function insertTask(pool: pg.Pool, t: { id: string; state?: TaskState; webhookUrl?: string | null; expired?: boolean }): Promise<void> {
  const now = Date.now();
  const state = t.state ?? 'completed';
  const final = state === 'completed' || state === 'failed' || state === 'canceled';
  await pool.query(
    `INSERT INTO tasks (id, kind, state, params, max_attempts, webhook_url, created_at, finished_at, expired_at)
     VALUES ($1, 'generate', $2, '{"prompt":"p"}', 3, $3, $4, $5, $6)`,
    [t.id, state, t.webhookUrl === undefined ? `https://hooks.example/${t.id}` : t.webhookUrl, now, final ? now : null, t.expired ? now : null],
  );
}

/** TaskStore.get on the tasks table: what a dispatcher reads (final tasks here, so no images). */
export function taskReader(pool: pg.Pool): { get(id: string): Promise<TaskRecord | undefined> } {
  const num = (v: string | number | null) => (v === null ? null : Number(v));
  return {
    async get(id) {
      const { rows: [r] } = await pool.query('SELECT * FROM tasks WHERE id = $1', [id]);
      if (!r) return undefined;
      return {
        id: r.id, kind: r.kind, state: r.state, params: r.params, inputKey: r.input_key, maskKey: r.mask_key,
        attempts: r.attempts, maxAttempts: r.max_attempts, progress: null, result: r.result, error: r.error,
        cancelRequested: r.cancel_requested, owner: r.owner, idempotencyKey: r.idempotency_key, webhookUrl: r.webhook_url,
        createdAt: Number(r.created_at), startedAt: num(r.started_at), finishedAt: num(r.finished_at),
      };
    },
  };
}
