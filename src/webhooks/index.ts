/**
 * Webhooks: a task submitted with `webhook_url` is POSTed there once final, with the body
 * GET /v1/images/tasks/{id} answers, signed per Standard Webhooks, retried with backoff.
 *
 * Image links in the body use ZIMAGE_PUBLIC_URL when set, else the base URL of the request
 * that submitted the task (recorded with the delivery at submit time), else the server's
 * own listening address. The body omits the task's own `webhook` field (it would describe
 * the delivery it is part of). It is rendered again for each attempt (so b64_json images
 * are not stored twice); the task is final, so every attempt carries the same content.
 *
 * Embedded, the deliveries live in the SQLite database (SqliteWebhookStore); in a fleet, in
 * Postgres (PostgresWebhookStore), where every API node's dispatcher claims due deliveries
 * under a lease, so each attempt is made by one node.
 */
import { ConfigError, type Config } from '../config.js';
import type { Storage, TaskEvents, TaskStore } from '../interfaces.js';
import type { Logger } from '../log.js';
import { WebhookDispatcher, type DispatcherOptions } from './dispatcher.js';
import { loadWebhookSecret } from './signing.js';
import type { WebhookStore } from './store.js';

export { WebhookDispatcher } from './dispatcher.js';
export { PostgresWebhookStore } from './postgresStore.js';
export { SqliteWebhookStore } from './sqliteStore.js';
export type { WebhookStore } from './store.js';

export interface WebhookDeps {
  /** SqliteWebhookStore on the embedded database, or PostgresWebhookStore on the fleet's pool. */
  store: WebhookStore;
  tasks: Pick<TaskStore, 'get'>;
  events: TaskEvents;
  storage: Storage;
  config: Config;
  log: Logger;
  /** A fleet: several API nodes deliver, so they must share the signing secret. */
  fleet: boolean;
}

/** Test seams: clock, retry schedule, DNS. */
export type WebhookOverrides = Partial<Pick<DispatcherOptions, 'now' | 'retryDelayMs' | 'lookup' | 'tickMs'>>;

/** Builds the dispatcher (not started: call start(serverUrl) once the server listens). */
export function createWebhooks(deps: WebhookDeps, overrides: WebhookOverrides = {}): WebhookDispatcher {
  const { config, log } = deps;
  if (deps.fleet && !config.webhookSecret) {
    // A secret generated per data directory would differ per node, and a receiver could not verify every delivery.
    throw new ConfigError(
      'fleet mode needs ZIMAGE_WEBHOOK_SECRET: every API node delivers webhooks and must sign them with the same key, '
      + 'so that receivers can verify a delivery from any node. Generate one once (for example '
      + '`echo "whsec_$(openssl rand -base64 32)"`), set ZIMAGE_WEBHOOK_SECRET (or --webhook-secret) to it on every node, '
      + 'and give it to your webhook receivers.');
  }
  const secret = loadWebhookSecret(config.webhookSecret, config.dataDir);
  if (secret.generated) {
    log.info({ secretFile: secret.source },
      `generated a webhook signing secret in ${secret.source} (readable by this user only); give it to your webhook receivers, or set ZIMAGE_WEBHOOK_SECRET`);
  } else {
    log.info({ secret: secret.source }, `webhooks are signed with the secret from ${secret.source}`);
  }
  return new WebhookDispatcher({
    store: deps.store,
    tasks: deps.tasks,
    events: deps.events,
    storage: deps.storage,
    log: log.child({ component: 'webhooks' }),
    key: secret.key,
    publicUrl: config.publicUrl,
    allowPrivate: config.webhookAllowPrivate,
    maxAttempts: config.webhookMaxAttempts,
    timeoutMs: config.webhookTimeoutSeconds * 1000,
    ...overrides,
  });
}
