/**
 * Sends each final task (completed, failed, canceled) to its webhook_url, signed, with
 * retries, at least once: a delivery is armed in SQLite when its task becomes final and
 * stays pending until an attempt succeeds or attempts run out, across restarts.
 *
 * Arming has two paths, so a crash cannot lose a delivery: the queue's final events (the
 * normal case, at once), and a scan for final tasks whose delivery was never armed (at start
 * and every minute: covers a crash between the task's final write and the arming).
 */
import { performance } from 'node:perf_hooks';
import type { Queue, Storage, TaskEvent, TaskRecord } from '../interfaces.js';
import type { Logger } from '../log.js';
import { presentTask } from '../tasks/present.js';
import type { TaskWebhooks, WebhookSummary } from '../tasks/service.js';
import { resolveTarget, WebhookTargetRefusedError, type LookupAll } from './addressPolicy.js';
import { retryDelayMs } from './backoff.js';
import { postWebhook } from './send.js';
import { signedHeaders } from './signing.js';
import type { Delivery, WebhookStore } from './store.js';

export interface DispatcherOptions {
  store: WebhookStore;
  queue: Queue;
  storage: Storage;
  log: Logger;
  /** HMAC key (see signing.ts). */
  key: Buffer;
  /** ZIMAGE_PUBLIC_URL: when set, the base of image links in every body. */
  publicUrl: string;
  allowPrivate: boolean;
  maxAttempts: number;
  timeoutMs: number;
  concurrency?: number;
  /** How often due deliveries are looked for. */
  tickMs?: number;
  now?: () => number;
  retryDelayMs?: (failedAttempts: number) => number;
  lookup?: LookupAll;
}

interface Outcome {
  statusCode: number | null;
  error: string | null;
  retry: boolean;
}

const FINAL_EVENTS = new Set<TaskEvent['type']>(['completed', 'failed', 'canceled']);
const SCAN_EVERY_TICKS = 60;
const SCAN_BATCH = 500;

export class WebhookDispatcher implements TaskWebhooks {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly shutdown = new AbortController();
  private readonly now: () => number;
  private fallbackBaseUrl = 'http://127.0.0.1';
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private ticks = 0;
  private stopped = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.now = opts.now ?? Date.now;
  }

  // ---- TaskWebhooks: called by the task service ----

  accepted(task: TaskRecord, baseUrl: string | null): void {
    try {
      this.opts.store.register(task.id, task.webhookUrl!, baseUrl, this.now());
    } catch (err) {
      // The task is queued either way; its delivery is armed when it finishes (links then use the fallback base).
      this.opts.log.error({ err, taskId: task.id }, 'could not record the webhook of a new task');
    }
  }

  async summary(taskId: string): Promise<WebhookSummary | undefined> {
    return this.opts.store.summary(taskId);
  }

  // ---- lifecycle ----

  /**
   * Starts delivering. serverUrl is the base of image links when neither ZIMAGE_PUBLIC_URL nor
   * the submitting request's base URL is known.
   */
  start(serverUrl: string): void {
    this.fallbackBaseUrl = serverUrl;
    this.unsubscribe = this.opts.queue.subscribe((e) => {
      if (FINAL_EVENTS.has(e.type)) this.onFinal(e.taskId);
    });
    this.armMissing();
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
    this.launchDue();
  }

  /** Stops; attempts in flight are abandoned unrecorded, so they stay pending and resume after a restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.shutdown.abort();
    await Promise.allSettled([...this.inflight.values()]);
  }

  // ---- maintenance: plain functions, also called directly by tests ----

  /** Arms the deliveries of final tasks that have none armed yet. Returns how many. */
  armMissing(): number {
    let armed = 0;
    for (let batch = 0; batch < 100; batch++) {
      const missing = this.opts.store.unarmed(SCAN_BATCH);
      for (const m of missing) if (this.opts.store.arm(m.taskId, m.url, this.now())) armed++;
      if (missing.length < SCAN_BATCH) break;
    }
    if (armed) this.opts.log.info({ deliveries: armed }, 'armed webhook deliveries of tasks that finished without one');
    return armed;
  }

  /**
   * Starts every delivery due at `now` (up to the concurrency limit) and resolves once they,
   * and any attempts already in flight, have finished. Returns how many it started.
   */
  async deliverDue(now = this.now()): Promise<number> {
    const started = this.launchDue(now);
    await Promise.allSettled([...this.inflight.values()]);
    return started;
  }

  private tick(): void {
    try {
      if (++this.ticks % SCAN_EVERY_TICKS === 0) this.armMissing();
      this.launchDue();
    } catch (err) {
      this.opts.log.error({ err }, 'webhook maintenance failed; will retry');
    }
  }

  private onFinal(taskId: string): void {
    // Listeners run inside the queue's write path: never throw there.
    this.opts.queue.get(taskId).then((task) => {
      if (this.stopped || !task?.webhookUrl) return;
      if (this.opts.store.arm(task.id, task.webhookUrl, this.now())) this.launchDue();
    }).catch((err) => this.opts.log.error({ err, taskId }, 'could not arm a webhook delivery; the periodic scan will'));
  }

  private launchDue(now = this.now()): number {
    if (this.stopped) return 0;
    const free = (this.opts.concurrency ?? 8) - this.inflight.size;
    if (free <= 0) return 0;
    const due = this.opts.store.due(now, free + this.inflight.size).filter((d) => !this.inflight.has(d.id)).slice(0, free);
    for (const d of due) {
      const run = this.attempt(d)
        .then((recorded) => {
          this.inflight.delete(d.id);
          if (recorded) this.launchDue();
        }, (err) => {
          this.inflight.delete(d.id);
          this.opts.log.error({ err, taskId: d.taskId }, 'webhook attempt could not be recorded; it stays pending');
        });
      this.inflight.set(d.id, run);
    }
    return due.length;
  }

  /** One attempt, recorded on the delivery. False when abandoned by shutdown (not recorded). */
  private async attempt(d: Delivery): Promise<boolean> {
    const at = this.now();
    const t0 = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; controller.abort(); }, this.opts.timeoutMs);
    const onShutdown = () => controller.abort();
    this.shutdown.signal.addEventListener('abort', onShutdown);
    let outcome: Outcome;
    try {
      outcome = await this.send(d, controller.signal);
    } catch (err) {
      if (this.shutdown.signal.aborted) return false;
      outcome = {
        statusCode: null,
        error: timedOut ? `timed out: no answer within ${this.opts.timeoutMs / 1000} s` : (err as Error).message,
        retry: !(err instanceof WebhookTargetRefusedError),
      };
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
    const ok = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const count = d.attempts.length + 1;
    const status = ok ? 'delivered' : !outcome.retry || count >= this.opts.maxAttempts ? 'failed' : 'pending';
    const nextAttemptAt = status === 'pending' ? this.now() + (this.opts.retryDelayMs ?? retryDelayMs)(count) : null;
    const attempt = { at, statusCode: outcome.statusCode, error: outcome.error, durationMs: Math.round(performance.now() - t0) };
    this.opts.store.record(d.id, attempt, { status, nextAttemptAt }, this.now());
    const where = { taskId: d.taskId, host: safeHost(d.url), attempt: count, statusCode: outcome.statusCode };
    if (status === 'delivered') this.opts.log.info(where, 'webhook delivered');
    else if (status === 'pending') this.opts.log.warn({ ...where, error: outcome.error, nextAttemptAt: new Date(nextAttemptAt!).toISOString() }, 'webhook attempt failed; will retry');
    else this.opts.log.warn({ ...where, error: outcome.error }, 'webhook delivery failed for good');
    return true;
  }

  private async send(d: Delivery, signal: AbortSignal): Promise<Outcome> {
    const task = await this.opts.queue.get(d.taskId);
    if (!task) return { statusCode: null, error: 'the task no longer exists', retry: false };
    const url = new URL(d.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { statusCode: null, error: `refused: only http and https URLs are called, not ${url.protocol}`, retry: false };
    }
    const baseUrl = this.opts.publicUrl || d.baseUrl || this.fallbackBaseUrl;
    const view = { task, queuePosition: null, etaSeconds: null };
    const body = Buffer.from(JSON.stringify(await presentTask(view, baseUrl, this.opts.storage)));
    const addresses = await abortable(resolveTarget(url, this.opts.allowPrivate, this.opts.lookup), signal);
    const headers = signedHeaders(this.opts.key, d.id, Math.floor(this.now() / 1000), body);
    const res = await postWebhook(url, addresses, headers, body, signal);
    if (res.statusCode >= 200 && res.statusCode < 300) return { statusCode: res.statusCode, error: null, retry: false };
    const why = res.statusCode >= 300 && res.statusCode < 400
      ? 'redirects are not followed; point webhook_url at the final address'
      : res.snippet;
    return { statusCode: res.statusCode, error: `the receiver answered HTTP ${res.statusCode}${why ? `: ${why}` : ''}`, retry: true };
  }
}

/** Rejects as soon as the signal aborts (DNS lookups cannot be cancelled, only abandoned). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Logs name the host only: webhook URLs often carry tokens in their path or query. */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
