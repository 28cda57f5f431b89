import type { TaskKind, TaskRecord, TaskState } from '../../interfaces.js';

/** One row of the tasks table, as better-sqlite3 returns it. */
export interface TaskRow {
  seq: number;
  id: string;
  kind: string;
  state: string;
  params: string;
  input_key: string | null;
  mask_key: string | null;
  attempts: number;
  max_attempts: number;
  claim_token: string | null;
  worker_id: string | null;
  lease_expires_at: number | null;
  progress_step: number | null;
  progress_total: number | null;
  result: string | null;
  error: string | null;
  cancel_requested: number;
  owner: string;
  idempotency_key: string | null;
  request_hash: string | null;
  webhook_url: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expired_at: number | null;
}

export function rowToTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    kind: row.kind as TaskKind,
    state: row.state as TaskState,
    params: JSON.parse(row.params),
    inputKey: row.input_key,
    maskKey: row.mask_key,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    progress: row.progress_total ? { step: row.progress_step ?? 0, total: row.progress_total } : null,
    result: row.result ? JSON.parse(row.result) : null,
    error: row.error ? JSON.parse(row.error) : null,
    cancelRequested: row.cancel_requested === 1,
    owner: row.owner,
    idempotencyKey: row.idempotency_key,
    webhookUrl: row.webhook_url,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
