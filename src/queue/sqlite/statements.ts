import type Database from 'better-sqlite3';

/** Every SQL statement the queue runs, prepared once. Each is one small named operation. */
export function prepareStatements(db: Database.Database) {
  const running = `state = 'running'`;
  return {
    insert: db.prepare(
      `INSERT INTO tasks (id, kind, state, params, input_key, mask_key, max_attempts, owner, idempotency_key, request_hash, webhook_url, created_at)
       VALUES (@id, @kind, 'queued', @params, @input_key, @mask_key, @max_attempts, @owner, @idempotency_key, @request_hash, @webhook_url, @created_at)`,
    ),
    byId: db.prepare('SELECT * FROM tasks WHERE id = ?'),
    tokenOf: db.prepare('SELECT claim_token, cancel_requested FROM tasks WHERE id = ? AND state = \'running\''),
    byIdempotencyKey: db.prepare('SELECT * FROM tasks WHERE owner = ? AND idempotency_key = ?'),
    positionOf: db.prepare(
      `SELECT (SELECT COUNT(*) FROM tasks q WHERE q.state = 'queued' AND q.seq < t.seq) AS position
       FROM tasks t WHERE t.id = ? AND t.state = 'queued'`,
    ),
    // @states: a JSON array of states, or NULL for any state. Newest first, keyset-paginated on seq.
    list: db.prepare(
      `SELECT * FROM tasks
       WHERE seq < @before AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
         AND (@owner IS NULL OR owner = @owner)
       ORDER BY seq DESC LIMIT @limit`,
    ),
    // The oldest queued task that is not deferred (not_before: see src/queue/deferral.ts).
    nextQueued: db.prepare(
      `SELECT seq, id, attempts, max_attempts FROM tasks
       WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?) ORDER BY seq LIMIT 1`,
    ),
    markRunning: db.prepare(
      `UPDATE tasks SET state = 'running', attempts = attempts + 1, claim_token = @token, worker_id = @worker,
         lease_expires_at = @lease, started_at = COALESCE(started_at, @at), progress_step = NULL, progress_total = NULL, not_before = NULL
       WHERE seq = @seq`,
    ),
    heartbeat: db.prepare(`UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND claim_token = ? AND ${running}`),
    finishClaimed: db.prepare(
      `UPDATE tasks SET state = @state, result = @result, error = @error, finished_at = @at, claim_token = NULL, lease_expires_at = NULL,
         progress_step = COALESCE(@step, progress_step), progress_total = COALESCE(@total, progress_total)
       WHERE id = @id AND claim_token = @token AND ${running}`,
    ),
    finish: db.prepare(
      `UPDATE tasks SET state = @state, result = @result, error = @error, finished_at = @at, claim_token = NULL, lease_expires_at = NULL
       WHERE seq = @seq`,
    ),
    requeue: db.prepare(
      `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL,
         attempts = attempts - @refund, error = @error
       WHERE id = @id AND claim_token = @token AND ${running}`,
    ),
    // A transient fault: back to queued with the attempt refunded, not claimable before @not_before.
    defer: db.prepare(
      `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL,
         attempts = attempts - 1, deferrals = deferrals + 1, not_before = @not_before, error = @error
       WHERE id = @id AND claim_token = @token AND ${running}`,
    ),
    // Which of the keys (a JSON array) a task names as its upload or mask (indexed), or among its outputs (a scan of @after < seq <= @upto).
    referencedUploads: db.prepare(
      `SELECT input_key AS key FROM tasks WHERE input_key IN (SELECT value FROM json_each(@keys))
       UNION SELECT mask_key FROM tasks WHERE mask_key IN (SELECT value FROM json_each(@keys))`,
    ),
    referencedOutputs: db.prepare(
      `SELECT DISTINCT json_extract(o.value, '$.file') AS key FROM tasks t, json_each(t.result, '$.outputs') o
       WHERE t.seq > @after AND t.seq <= @upto AND t.result IS NOT NULL
         AND json_extract(o.value, '$.file') IN (SELECT value FROM json_each(@keys))`,
    ),
    maxSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM tasks'),
    requestCancel: db.prepare('UPDATE tasks SET cancel_requested = 1 WHERE seq = ?'),
    staleRunning: db.prepare(`SELECT seq, id, cancel_requested FROM tasks WHERE ${running} AND lease_expires_at < ?`),
    abandon: db.prepare(
      `UPDATE tasks SET state = 'queued', claim_token = NULL, worker_id = NULL, lease_expires_at = NULL WHERE seq = ? AND ${running}`,
    ),
    expirable: db.prepare(
      `SELECT seq, result, input_key, mask_key FROM tasks
       WHERE finished_at IS NOT NULL AND finished_at < ? AND expired_at IS NULL LIMIT 500`,
    ),
    // The tombstone keeps no prompt, webhook or idempotency key: only that the task existed.
    expire: db.prepare(
      `UPDATE tasks SET state = 'failed', result = NULL, error = @error, input_key = NULL, mask_key = NULL, expired_at = @at,
         params = json_remove(params, '$.prompt', '$.negative_prompt'), webhook_url = NULL, idempotency_key = NULL
       WHERE seq = @seq`,
    ),
    // One statement, so a task cannot finish-then-be-removed halfway: only a final row goes. Its
    // webhook_deliveries row goes with it (ON DELETE CASCADE; openDatabase turns foreign_keys on).
    removeFinished: db.prepare(
      `DELETE FROM tasks WHERE id = ? AND state IN ('completed', 'failed', 'canceled') RETURNING result, input_key, mask_key`,
    ),
    purgeTombstones: db.prepare('DELETE FROM tasks WHERE expired_at IS NOT NULL AND expired_at < ?'),
    countQueued: db.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE state = 'queued'`),
    // On tasks_by_state: at most ZIMAGE_MAX_QUEUE queued rows are read, however many tasks the owner has.
    countQueuedOf: db.prepare(`SELECT COUNT(*) AS n FROM tasks INDEXED BY tasks_by_state WHERE state = 'queued' AND owner = ?`),
    counts: db.prepare(`SELECT state, COUNT(*) AS n FROM tasks WHERE state IN ('queued', 'running') GROUP BY state`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
