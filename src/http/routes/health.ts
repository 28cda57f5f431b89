import type { FastifyInstance } from 'fastify';
import { logDestinationStats } from '../../logDestination.js';
import type { SpaceState } from '../../storage/storage.js';
import type { WorkerInfo } from '../../worker/registry.js';
import type { AppDeps } from '../context.js';
import { ref } from '../schemas.js';

const presentWorker = (w: WorkerInfo) => ({
  id: w.id, host: w.host, engine: w.engine, synthetic: w.synthetic, model: w.model, device: w.device,
  state: w.state, engine_state: w.engineState, current_task: w.currentTask, last_heartbeat: Math.floor(w.heartbeatAt / 1000),
});

/**
 * What runs the tasks: this process's engine, or, on an API-only node, the fleet's live
 * workers as the registry lists them (ready when any of them is).
 */
function engineSummary(deps: AppDeps, workers: WorkerInfo[]) {
  if (deps.engine) return { name: deps.engine.name, synthetic: deps.engine.synthetic, ...deps.engine.state() };
  if (!workers.length) {
    return {
      name: null, state: 'none',
      message: deps.queue.name === 'sqlite'
        ? 'this server runs no engine worker (ZIMAGE_WORKER=false): tasks wait in the queue until it runs with a worker again'
        : 'no live worker: tasks wait in the queue until a worker (zimage worker) connects',
    };
  }
  const best = workers.find((w) => w.engineState === 'ready') ?? workers[0];
  const summary: Record<string, unknown> = {
    name: best.engine, synthetic: best.synthetic, state: best.engineState,
    message: `served by ${workers.length} live worker${workers.length === 1 ? '' : 's'} (see "workers")`,
  };
  if (best.model) summary.model = best.model;
  if (best.device) summary.device = best.device;
  return summary;
}

/** Whether new work can be stored: a full disk refuses submits (507 storage_full) until space returns. */
function presentStorage(deps: AppDeps, space: SpaceState | undefined) {
  return {
    backend: deps.storage.name,
    full: space?.full ?? false,
    free_bytes: space?.freeBytes ?? null,
    message: space?.full
      ? `storage is full (${space.reason}): new tasks are refused with 507 until space is freed; accepted tasks wait and run then`
      : null,
  };
}

/** Whether log lines reach stdout: a full or closed destination is counted, never fatal (see logDestination.ts). */
function presentLogs() {
  const stats = logDestinationStats();
  return { write_errors: stats.errors, dropped_lines: stats.dropped, last_error: stats.lastError };
}

export async function healthRoutes(app: FastifyInstance, deps: AppDeps) {
  app.get('/health', {
    schema: { summary: 'Liveness, engine state, queue depth and live workers', tags: ['meta'], response: { 200: ref.health('The server is up.') } },
  }, async () => {
    const [stats, workers, space] = await Promise.all([deps.queue.stats(), deps.workers.live(), deps.storage.space?.check()]);
    const engine = engineSummary(deps, workers);
    return {
      status: 'ok',
      ready: deps.engine ? engine.state === 'ready' : workers.length === 0 ? deps.queue.name === 'sqlite' : workers.some((w) => w.engineState === 'ready'),
      engine,
      queue: { backend: deps.queue.name, queued: stats.queued, running: stats.running },
      workers: workers.map(presentWorker),
      storage: presentStorage(deps, space),
      logs: presentLogs(),
    };
  });
}
