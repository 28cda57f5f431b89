import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createEngine } from './engines/index.js';
import { buildApp } from './http/app.js';
import { parseApiKeys } from './http/auth.js';
import type { Engine, Queue, Storage } from './interfaces.js';
import { createLogger, type Logger } from './log.js';
import { openQueue } from './queue/index.js';
import { LocalStorage } from './storage/local.js';
import { startMaintenance } from './tasks/maintenance.js';
import { TaskService } from './tasks/service.js';
import { createWebhooks, type WebhookDispatcher, type WebhookOverrides } from './webhooks/index.js';
import { Worker } from './worker/worker.js';

export interface ServerHandle {
  /** http://host:port the server listens on (loopback address when bound to 0.0.0.0). */
  url: string;
  app: FastifyInstance;
  queue: Queue;
  storage: Storage;
  engine: Engine | null;
  worker: Worker | null;
  /** Webhook deliveries (null without the embedded SQLite queue). */
  webhooks: WebhookDispatcher | null;
  log: Logger;
  /** Graceful stop: stop accepting, finish or hand back the running task, close the database. */
  close(): Promise<void>;
}

export interface ServerOverrides {
  log?: Logger;
  engine?: Engine;
  /** Overrides ZIMAGE_SHUTDOWN_GRACE_SECONDS (milliseconds). */
  shutdownGraceMs?: number;
  /** Test seams for webhook delivery (clock, retry delays, DNS). */
  webhooks?: WebhookOverrides;
}

/** Composes one process: HTTP + queue + storage (+ engine worker unless --no-worker). */
export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<ServerHandle> {
  const log = overrides.log ?? createLogger(config.logLevel);
  parseApiKeys(config.apiKeys); // a bad key list fails now, before the queue or the engine start
  const { queue, release, db } = await openQueue(config);
  // Run in order on close; later parts are unshifted so they close first. The database closes
  // before the data-directory lock is let go, so no other process can open it in between.
  const cleanups: Array<() => Promise<void> | void> = [() => queue.close(), release];
  try {
    const storage = await LocalStorage.open(config.dataDir);
    const engine = config.worker ? (overrides.engine ?? (await createEngine(config, log))) : null;
    const webhooks = db ? createWebhooks({ db, queue, storage, config, log }, overrides.webhooks) : null;
    if (webhooks) cleanups.unshift(() => webhooks.stop());
    const tasks = new TaskService(queue, storage, {
      maxQueue: config.maxQueue,
      maxAttempts: config.maxAttempts,
      defaultSteps: (kind) => engine?.defaultSteps(kind) ?? 8,
      webhooks: webhooks ?? undefined,
    });
    cleanups.unshift(() => tasks.close());
    let worker: Worker | null = null;
    if (engine) {
      cleanups.unshift(() => engine.close());
      engine.start().then(
        () => log.info({ engine: engine.name, ...engine.state() }, 'engine ready'),
        (err) => log.error({ err, engine: engine.name }, `engine failed to load: ${(err as Error).message}`),
      );
      worker = new Worker({
        queue, engine, storage, log: log.child({ component: 'worker' }),
        leaseMs: config.leaseSeconds * 1000,
        taskTimeoutMs: config.taskTimeoutSeconds * 1000,
        maxInputPixels: config.maxInputPixels,
      });
    }
    const stopMaintenance = startMaintenance(
      { queue, storage, log, retentionMs: config.retentionHours * 3600_000 },
      Math.min(60_000, (config.leaseSeconds * 1000) / 2),
    );
    cleanups.unshift(stopMaintenance);
    const app = await buildApp({ config, tasks, queue, storage, engine, log });
    await app.listen({ port: config.port, host: config.host });
    worker?.start();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    webhooks?.start(url);
    log.info({ url, engine: engine?.name ?? null, synthetic: engine?.synthetic ?? null, dataDir: config.dataDir }, 'zimage server listening');

    let closing: Promise<void> | undefined;
    const close = () => (closing ??= (async () => {
      log.info('shutting down: no new requests, draining the worker');
      // Waiting requests (sync, long-poll, SSE) answer at once on close; a client socket that
      // never sent a request would hold close() until Node's header timeout, so cut it off.
      const force = setTimeout(() => app.server.closeAllConnections(), 2000);
      await app.close();
      clearTimeout(force);
      await worker?.stop(overrides.shutdownGraceMs ?? config.shutdownGraceSeconds * 1000);
      for (const fn of cleanups) await fn();
      log.info('shutdown complete');
    })());
    return { url, app, queue, storage, engine, worker, webhooks, log, close };
  } catch (err) {
    for (const fn of cleanups) await Promise.resolve().then(fn).catch(() => undefined);
    throw err;
  }
}
