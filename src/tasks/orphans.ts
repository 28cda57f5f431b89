/**
 * The orphan sweep: stored files that no task names. They are left by a crash between writing
 * files and committing the task (an upload whose submit died, images whose worker died before
 * its final write), or by a delete whose storage call failed. Only files older than an hour go:
 * a younger one may be a write whose commit is on its way. A file that is that old never becomes
 * a task's later (every write makes a fresh key), so "not named now" is final.
 */
import type { Housekeeping, Storage } from '../interfaces.js';
import type { Logger } from '../log.js';

export const ORPHAN_MIN_AGE_MS = 3600_000;
/** The key directories tasks write to. */
export const TASK_FILE_PREFIXES = ['outputs/', 'uploads/'] as const;
/** Keys asked about per referencedKeys call: few calls (each may scan the tasks), bounded memory. */
const BATCH = 5000;

export interface OrphanSweepDeps {
  queue: Pick<Housekeeping, 'referencedKeys'>;
  storage: Storage;
  log: Logger;
  now?: () => number;
}

/** Deletes the stored task files, older than minAgeMs, that no task names. Returns how many it deleted. */
export async function sweepOrphans(deps: OrphanSweepDeps, minAgeMs = ORPHAN_MIN_AGE_MS): Promise<number> {
  const before = (deps.now ?? Date.now)() - minAgeMs;
  let removed = 0;
  const settle = async (keys: string[]) => {
    const named = await deps.queue.referencedKeys(keys);
    const orphans = keys.filter((k) => !named.has(k));
    if (!orphans.length) return;
    await deps.storage.deleteMany(orphans);
    removed += orphans.length;
  };
  for (const prefix of TASK_FILE_PREFIXES) {
    let batch: string[] = [];
    for await (const obj of deps.storage.list(prefix)) {
      if (obj.lastModified >= before) continue;
      batch.push(obj.key);
      if (batch.length >= BATCH) {
        await settle(batch);
        batch = [];
      }
    }
    if (batch.length) await settle(batch);
  }
  if (removed) deps.log.info({ files: removed }, 'deleted stored files that no task names (left by a crash or a failed delete)');
  return removed;
}
