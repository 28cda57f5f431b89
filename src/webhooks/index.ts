/**
 * Webhooks: a task submitted with `webhook_url` is POSTed there once final, with the body
 * GET /v1/images/tasks/{id} answers, signed per Standard Webhooks, retried with backoff.
 *
 * Image links in the body use ZIMAGE_PUBLIC_URL when set, else the base URL of the request
 * that submitted the task (recorded with the delivery at submit time), else the server's
 * own listening address. The body omits the task's own `webhook` field (it would describe
 * the delivery it is part of). It is rendered again for each attempt (so b64_json images
 * are not stored twice); the task is final, so every attempt carries the same content.
 */
import type Database from 'better-sqlite3';
import type { Config } from '../config.js';
import type { Queue, Storage } from '../interfaces.js';
import type { Logger } from '../log.js';
import { WebhookDispatcher, type DispatcherOptions } from './dispatcher.js';
import { loadWebhookSecret } from './signing.js';
import { WebhookStore } from './store.js';

export { WebhookDispatcher } from './dispatcher.js';

export interface WebhookDeps {
  db: Database.Database;
  queue: Queue;
  storage: Storage;
  config: Config;
  log: Logger;
}

/** Test seams: clock, retry schedule, DNS. */
export type WebhookOverrides = Partial<Pick<DispatcherOptions, 'now' | 'retryDelayMs' | 'lookup' | 'tickMs'>>;

/** Builds the dispatcher (not started: call start(serverUrl) once the server listens). */
export function createWebhooks(deps: WebhookDeps, overrides: WebhookOverrides = {}): WebhookDispatcher {
  const { config, log } = deps;
  const secret = loadWebhookSecret(config.webhookSecret, config.dataDir);
  if (secret.generated) {
    log.info({ secretFile: secret.source },
      `generated a webhook signing secret in ${secret.source} (readable by this user only); give it to your webhook receivers, or set ZIMAGE_WEBHOOK_SECRET`);
  } else {
    log.info({ secret: secret.source }, `webhooks are signed with the secret from ${secret.source}`);
  }
  return new WebhookDispatcher({
    store: new WebhookStore(deps.db),
    queue: deps.queue,
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
