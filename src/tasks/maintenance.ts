import type { Housekeeping, Storage } from '../interfaces.js';
import type { Logger } from '../log.js';

/** A temporary file older than this belongs to a writer that died. */
export const TEMP_MAX_AGE_MS = 3600_000;

export interface MaintenanceDeps {
  queue: Housekeeping;
  storage: Storage;
  log: Logger;
  retentionMs: number;
  now?: () => number;
  /** Whether this process should run the pass now (the fleet's leader lock); default always. */
  leader?: () => Promise<boolean>;
  /** Backend work of the same pass (the fleet's ticket reconciler). */
  extra?: () => Promise<unknown>;
}

/**
 * One pass of housekeeping: hand back tasks whose worker stopped heart-beating, and
 * expire finished tasks past retention (deleting their files). Tests call this directly
 * instead of waiting on the timer.
 */
export async function runMaintenance(deps: MaintenanceDeps): Promise<{ recovered: number; expired: number }> {
  const now = deps.now ?? Date.now;
  const recovered = await deps.queue.recover();
  if (recovered) deps.log.warn({ recovered }, 'requeued tasks whose worker stopped responding');
  let expired = 0;
  for (;;) {
    const batch = await deps.queue.expireFinished(now() - deps.retentionMs);
    if (batch.count === 0) break;
    await deps.storage.deleteMany(batch.keys).catch((err) => deps.log.warn({ err, keys: batch.keys.length }, 'could not delete expired files'));
    expired += batch.count;
  }
  if (expired) deps.log.info({ tasks: expired }, 'retention expired finished tasks and deleted their files');
  // Half-written files of writers that died mid-put. Old ones only: on a shared directory a
  // young one may be another process's write in progress.
  const swept = await deps.storage.sweepTemporary(TEMP_MAX_AGE_MS);
  if (swept) deps.log.info({ files: swept }, 'removed half-written files left by a crashed writer');
  await deps.extra?.();
  return { recovered, expired };
}

/** Runs maintenance every intervalMs (when this process leads) until the returned stop function is called. */
export function startMaintenance(deps: MaintenanceDeps, intervalMs: number): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    (async () => {
      if (deps.leader && !(await deps.leader())) return;
      await runMaintenance(deps);
    })()
      .catch((err) => deps.log.error({ err }, 'maintenance failed; will retry'))
      .finally(() => { busy = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
