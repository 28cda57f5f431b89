import type { TaskRecord } from '../../interfaces.js';
import type { TaskRowLike } from '../taskRow.js';

/** One row of the Postgres tasks table (JSONB parsed by pg, BIGINT parsed to number by pool.ts). */
export interface PgTaskRow extends TaskRowLike {
  seq: number;
  params: TaskRecord['params'];
  result: TaskRecord['result'];
  error: TaskRecord['error'];
  cancel_requested: boolean;
  claim_token: string | null;
  request_hash: string | null;
  lease_expires_at: number | null;
  not_before: number | null;
  deferrals: number;
}

export { rowToTask as pgRowToTask } from '../taskRow.js';
