import type { Housekeeping, Storage } from '../interfaces.js';
import type { Logger } from '../log.js';
import { sweepOrphans } from './orphans.js';

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
  /** Whether this pass also sweeps stored files that no task names (see orphans.ts). */
  sweepOrphansNow?: boolean;
  /** ZIMAGE_ORPHAN_SWEEP: whether startMaintenance sweeps orphans (hourly); default true. */
  orphanSweep?: boolean;
}

/** How often the orphan sweep runs: it lists the whole storage, and orphans are rare. */
export const ORPHAN_SWEEP_EVERY_MS = 3600_000;

/**
 * One pass of housekeeping: hand back tasks whose worker stopped heart-beating, expire finished
 * tasks past retention (deleting their files), remove half-written files and, when asked, stored
 * files that no task names. Tests call this directly instead of waiting on the timer.
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
  if (deps.sweepOrphansNow) {
    await sweepOrphans({ queue: deps.queue, storage: deps.storage, log: deps.log, now })
      .catch((err) => deps.log.warn({ err }, 'the orphan sweep failed; it runs again next hour'));
  }
  await deps.extra?.();
  return { recovered, expired };
}

/** Runs maintenance every intervalMs (when this process leads) until the returned stop function is called. */
export function startMaintenance(deps: MaintenanceDeps, intervalMs: number): () => void {
  let busy = false;
  let orphansSweptAt = Number.NEGATIVE_INFINITY; // the first pass sweeps, then hourly
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    (async () => {
      if (deps.leader && !(await deps.leader())) return;
      const sweep = deps.orphanSweep !== false && Date.now() - orphansSweptAt >= ORPHAN_SWEEP_EVERY_MS;
      await runMaintenance({ ...deps, sweepOrphansNow: sweep });
      if (sweep) orphansSweptAt = Date.now();
    })()
      .catch((err) => deps.log.error({ err }, 'maintenance failed; will retry'))
      .finally(() => { busy = false; });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
