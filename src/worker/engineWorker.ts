import type { Config } from '../config.js';
import { createEngine } from '../engines/index.js';
import type { Engine, Storage, WorkQueue } from '../interfaces.js';
import type { Logger } from '../log.js';
import { describeWorker, type WorkerInfo } from './registry.js';
import { Worker } from './worker.js';

export interface EngineWorker {
  engine: Engine;
  worker: Worker;
  /** This worker's registry entry, read fresh. */
  info(): WorkerInfo;
}

/**
 * One engine and the worker loop that feeds it, as `zimage serve` (with a worker) and
 * `zimage worker` both run it. The model loads in the background; the loop claims only
 * once the engine is ready.
 */
export async function startEngineWorker(
  config: Config, work: WorkQueue, storage: Storage, log: Logger, engineOverride?: Engine,
): Promise<EngineWorker> {
  const engine = engineOverride ?? (await createEngine(config, log));
  engine.start().then(
    () => log.info({ engine: engine.name, ...engine.state() }, 'engine ready'),
    (err) => log.error({ err, engine: engine.name }, `engine failed to load: ${(err as Error).message}`),
  );
  const worker = new Worker({
    queue: work, engine, storage, log: log.child({ component: 'worker' }),
    leaseMs: config.leaseSeconds * 1000,
    taskTimeoutMs: config.taskTimeoutSeconds * 1000,
    maxInputPixels: config.maxInputPixels,
    previewEvery: config.previewEvery,
  });
  const startedAt = Date.now();
  return { engine, worker, info: () => describeWorker(worker, engine, startedAt) };
}
