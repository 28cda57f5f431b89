import type { TaskKind, TaskRecord, TaskState } from '../interfaces.js';

/**
 * A tasks row as either database returns it: SQLite gives JSON as text and booleans as 0/1,
 * Postgres (pg) gives parsed JSONB and booleans. Both stores have the same columns.
 */
export interface TaskRowLike {
  id: string;
  kind: string;
  state: string;
  params: string | TaskRecord['params'];
  input_key: string | null;
  mask_key: string | null;
  attempts: number;
  max_attempts: number;
  progress_step: number | null;
  progress_total: number | null;
  result: string | TaskRecord['result'];
  error: string | TaskRecord['error'];
  cancel_requested: number | boolean;
  owner: string;
  idempotency_key: string | null;
  webhook_url: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const json = <T>(value: string | T): T => (typeof value === 'string' ? JSON.parse(value) as T : value);

export function rowToTask(row: TaskRowLike): TaskRecord {
  return {
    id: row.id,
    kind: row.kind as TaskKind,
    state: row.state as TaskState,
    params: json(row.params),
    inputKey: row.input_key,
    maskKey: row.mask_key,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    progress: row.progress_total ? { step: row.progress_step ?? 0, total: row.progress_total } : null,
    result: row.result ? json(row.result) : null,
    error: row.error ? json(row.error) : null,
    cancelRequested: row.cancel_requested === 1 || row.cancel_requested === true,
    owner: row.owner,
    idempotencyKey: row.idempotency_key,
    webhookUrl: row.webhook_url,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/**
 * The storage keys a tasks row points at (its outputs, uploaded image and mask): what must be
 * deleted once the row is expired or removed. Either driver's `result` (JSON text or parsed).
 */
export function storageKeysOf(row: Pick<TaskRowLike, 'result' | 'input_key' | 'mask_key'>): string[] {
  const result = row.result ? json(row.result) : null;
  const keys = (result?.outputs ?? []).map((out) => out.file);
  if (row.input_key) keys.push(row.input_key);
  if (row.mask_key) keys.push(row.mask_key);
  return keys;
}
