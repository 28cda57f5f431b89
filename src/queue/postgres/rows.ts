import type { TaskKind, TaskRecord, TaskState } from '../../interfaces.js';

/** One row of the Postgres tasks table (JSONB parsed by pg, BIGINT parsed to number by pool.ts). */
export interface PgTaskRow {
  seq: number;
  id: string;
  kind: string;
  state: string;
  params: TaskRecord['params'];
  input_key: string | null;
  mask_key: string | null;
  attempts: number;
  max_attempts: number;
  claim_token: string | null;
  progress_step: number | null;
  progress_total: number | null;
  result: TaskRecord['result'];
  error: TaskRecord['error'];
  cancel_requested: boolean;
  owner: string;
  idempotency_key: string | null;
  request_hash: string | null;
  webhook_url: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_expires_at: number | null;
}

export function pgRowToTask(row: PgTaskRow): TaskRecord {
  return {
    id: row.id,
    kind: row.kind as TaskKind,
    state: row.state as TaskState,
    params: row.params,
    inputKey: row.input_key,
    maskKey: row.mask_key,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    progress: row.progress_total ? { step: row.progress_step ?? 0, total: row.progress_total } : null,
    result: row.result,
    error: row.error,
    cancelRequested: row.cancel_requested,
    owner: row.owner,
    idempotencyKey: row.idempotency_key,
    webhookUrl: row.webhook_url,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
