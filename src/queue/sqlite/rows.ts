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
  /** Epoch ms before which a deferred task is not claimed (src/queue/deferral.ts). */
  not_before: number | null;
  deferrals: number;
}

export { rowToTask } from '../taskRow.js';
