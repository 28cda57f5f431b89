import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { buildApp } from './http/app.js';
import { loadApiKeys } from './http/apiKeys.js';
import type { Engine, Storage } from './interfaces.js';
import { createLogger, type Logger } from './log.js';
import { countWebhookAttempts } from './metrics/webhookMetrics.js';
import { metricsOf } from './metrics/registry.js';
import { checkPortFree, listenErrorOf } from './portCheck.js';
import { taskQueue, type TaskQueue } from './queue/facade.js';
import { openBackend, type Backend } from './queue/index.js';
import { openStorage } from './storage/index.js';
import { startMaintenance } from './tasks/maintenance.js';
import { TaskService } from './tasks/service.js';
import { createWebhooks, PostgresWebhookStore, SqliteWebhookStore, type WebhookDispatcher, type WebhookOverrides } from './webhooks/index.js';
import { startEngineWorker } from './worker/engineWorker.js';
import { CachedRegistry, LocalRegistry, RedisRegistry, type WorkerRegistry } from './worker/registry.js';
import type { Worker } from './worker/worker.js';

/** How often a fleet worker publishes its registry entry, and how old an entry may be and still count as live. */
export const REGISTRY_BEAT_MS = 2000;
export const REGISTRY_TTL_MS = 10_000;

export interface ServerHandle {
  /** http://host:port the server listens on (loopback address when bound to 0.0.0.0). */
  url: string;
  app: FastifyInstance;
  /** The task store and events (SQLite embedded; Postgres + BullMQ in a fleet). */
  queue: TaskQueue;
  backend: Backend;
  storage: Storage;
  engine: Engine | null;
  worker: Worker | null;
  workers: WorkerRegistry;
  /** Webhook deliveries. */
  webhooks: WebhookDispatcher;
  log: Logger;
  /** Graceful stop: stop accepting, finish or hand back the running task, close the stores. */
  close(): Promise<void>;
}

export interface ServerOverrides {
  log?: Logger;
  engine?: Engine;
  /** Overrides ZIMAGE_SHUTDOWN_GRACE_SECONDS (milliseconds). */
  shutdownGraceMs?: number;
  /** Test seams for webhook delivery (clock, retry delays, DNS). */
  webhooks?: WebhookOverrides;
  /** Overrides the maintenance interval (milliseconds). */
  maintenanceMs?: number;
}

type Cleanup = () => Promise<unknown> | unknown;

/** Runs cleanups newest first; used on close and when a start fails half-way. */
async function runCleanups(cleanups: Cleanup[], log?: Logger): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    await Promise.resolve().then(fn).catch((err) => log?.warn({ err }, 'error while closing'));
  }
}

/** Housekeeping interval: often enough to recover a dead worker's task soon after its lease. */
const maintenanceInterval = (config: Config) => Math.min(60_000, (config.leaseSeconds * 1000) / 2);

/** Recovery, retention and (in a fleet) the ticket reconciler, on the leader only. */
function maintain(backend: Backend, storage: Storage, config: Config, log: Logger, intervalMs?: number): () => void {
  return startMaintenance({
    queue: backend.housekeeping, storage, log, retentionMs: config.retentionHours * 3600_000, orphanSweep: config.orphanSweep,
    leader: () => backend.isLeader(),
    extra: () => backend.reconcile(),
  }, intervalMs ?? maintenanceInterval(config));
}

/**
 * `zimage serve`: HTTP API + task store (+ an engine worker unless --no-worker). Embedded:
 * one process owns everything. Fleet: this is an API node (and maybe a worker) among many.
 */
export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<ServerHandle> {
  const log = overrides.log ?? createLogger(config.logLevel, config.logFormat);
  loadApiKeys(config); // a bad key list or key file fails now, before the stores or the engine start
  await checkPortFree(config.host, config.port); // a port in use fails now too, having created nothing
  const backend = await openBackend(config, log);
  const cleanups: Cleanup[] = [() => backend.close()];
  try {
    const queue = taskQueue(backend.store, backend.events);
    const storage = await openStorage(config);
    cleanups.push(() => storage.close());
    const local = config.worker
      ? await startEngineWorker(config, await backend.workQueue(), storage, log, overrides.engine)
      : null;
    if (local) cleanups.push(() => local.engine.close());
    let workers: WorkerRegistry = new LocalRegistry(() => (local ? [local.info()] : []));
    if (backend.redis) {
      const registry = new RedisRegistry(backend.redis, config.redisPrefix, REGISTRY_TTL_MS);
      if (local) {
        const stopAnnouncing = registry.announce(local.info, REGISTRY_BEAT_MS);
        cleanups.push(stopAnnouncing);
      }
      workers = registry;
    }
    const cachedWorkers = new CachedRegistry(workers);
    // Every API node runs a dispatcher; deliveries are claimed under a lease, so each is sent once.
    let webhookStore: SqliteWebhookStore | PostgresWebhookStore;
    if (backend.db) {
      webhookStore = new SqliteWebhookStore(backend.db);
      webhookStore.releaseLeases(Date.now()); // embedded start-up step, like requeueAllRunning
    } else {
      webhookStore = new PostgresWebhookStore(backend.pool!);
    }
    const webhooks = createWebhooks({
      store: countWebhookAttempts(webhookStore, metricsOf(queue)), tasks: backend.store, events: backend.events, storage, config, log, fleet: backend.mode === 'fleet',
    }, overrides.webhooks);
    cleanups.push(() => webhooks.stop());
    const tasks = new TaskService(queue, storage, {
      maxQueue: config.maxQueue,
      maxQueuedPerKey: config.maxQueuedPerKey,
      maxAttempts: config.maxAttempts,
      workers: cachedWorkers,
      webhooks,
      recheckMs: backend.mode === 'fleet' ? 1000 : undefined,
    });
    cleanups.push(() => tasks.close());
    cleanups.push(maintain(backend, storage, config, log, overrides.maintenanceMs));
    const engine = local?.engine ?? null;
    const app = await buildApp({ config, tasks, queue, storage, engine, workers: cachedWorkers, log });
    await app.listen({ port: config.port, host: config.host }).catch((err) => {
      throw listenErrorOf(err, config.host, config.port) ?? err;
    });
    local?.worker.start();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    webhooks.start(url);
    log.info({ url, engine: engine?.name ?? null, synthetic: engine?.synthetic ?? null, mode: backend.mode, dataDir: config.dataDir }, 'zimage server listening');

    let closing: Promise<void> | undefined;
    const close = () => (closing ??= (async () => {
      log.info('shutting down: no new requests, draining the worker');
      // Waiting requests (sync, long-poll, SSE) answer at once on close; a client socket that
      // never sent a request would hold close() until Node's header timeout, so cut it off.
      const force = setTimeout(() => app.server.closeAllConnections(), 2000);
      await app.close();
      clearTimeout(force);
      await local?.worker.stop(overrides.shutdownGraceMs ?? config.shutdownGraceSeconds * 1000);
      await runCleanups(cleanups, log);
      log.info('shutdown complete');
    })());
    return { url, app, queue, backend, storage, engine, worker: local?.worker ?? null, workers: cachedWorkers, webhooks, log, close };
  } catch (err) {
    await runCleanups(cleanups);
    throw err;
  }
}

export interface WorkerHandle {
  backend: Backend;
  engine: Engine;
  worker: Worker;
  log: Logger;
  close(): Promise<void>;
}

/**
 * `zimage worker`: one engine worker of a fleet, no HTTP. It announces itself in the
 * registry, claims tasks while its engine is ready, and on SIGTERM drains: the running
 * task finishes within the grace period or goes back to the queue without spending an attempt.
 */
export async function startWorkerProcess(config: Config, overrides: ServerOverrides = {}): Promise<WorkerHandle> {
  const log = overrides.log ?? createLogger(config.logLevel, config.logFormat);
  const backend = await openBackend(config, log);
  const cleanups: Cleanup[] = [() => backend.close()];
  try {
    const storage = await openStorage(config);
    cleanups.push(() => storage.close());
    const local = await startEngineWorker(config, await backend.workQueue(), storage, log, overrides.engine);
    cleanups.push(() => local.engine.close());
    if (backend.redis) cleanups.push(new RedisRegistry(backend.redis, config.redisPrefix, REGISTRY_TTL_MS).announce(local.info, REGISTRY_BEAT_MS));
    cleanups.push(maintain(backend, storage, config, log, overrides.maintenanceMs));
    local.worker.start();
    log.info({ worker: local.worker.id, engine: local.engine.name, device: config.device, mode: backend.mode }, 'zimage worker started');
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= (async () => {
      log.info('shutting down: draining the worker');
      await local.worker.stop(overrides.shutdownGraceMs ?? config.shutdownGraceSeconds * 1000);
      await runCleanups(cleanups, log);
      log.info('shutdown complete');
    })());
    return { backend, engine: local.engine, worker: local.worker, log, close };
  } catch (err) {
    await runCleanups(cleanups);
    throw err;
  }
}
