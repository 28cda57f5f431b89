/**
 * Sends each final task (completed, failed, canceled) to its webhook_url, signed, with
 * retries, at least once: a delivery is armed in the store when its task becomes final and
 * stays pending until an attempt succeeds or attempts run out, across restarts.
 *
 * Arming has two paths, so a crash cannot lose a delivery: the final events (the normal
 * case, at once), and a scan for final tasks whose delivery was never armed (at start and
 * every minute: covers a crash between the task's final write and the arming, and in a fleet
 * an event that never arrived).
 *
 * In a fleet every API node runs a dispatcher on the same store. Each attempt is made under
 * a lease from claimDue, so one node at a time attempts a delivery, and a node that dies
 * mid-attempt leaves it to another once the lease runs out.
 */
import { performance } from 'node:perf_hooks';
import type { Storage, TaskEvent, TaskEvents, TaskRecord, TaskStore } from '../interfaces.js';
import type { Logger } from '../log.js';
import { presentTask } from '../tasks/present.js';
import type { TaskWebhooks, WebhookSummary } from '../tasks/service.js';
import { resolveTarget, WebhookTargetRefusedError, type LookupAll } from './addressPolicy.js';
import { retryDelayMs } from './backoff.js';
import { postWebhook } from './send.js';
import { signedHeaders } from './signing.js';
import type { ClaimedDelivery, WebhookStore } from './store.js';

export interface DispatcherOptions {
  store: WebhookStore;
  /** Reads the task of a delivery (its body, and whether it still exists). */
  tasks: Pick<TaskStore, 'get'>;
  /** Final events arm deliveries at once (the periodic scan catches any that are missed). */
  events: TaskEvents;
  storage: Storage;
  log: Logger;
  /** HMAC key (see signing.ts). */
  key: Buffer;
  /** ZIMAGE_PUBLIC_URL: when set, the base of image links in every body. */
  publicUrl: string;
  allowPrivate: boolean;
  maxAttempts: number;
  timeoutMs: number;
  /**
   * How long a claimed attempt keeps its delivery from other dispatchers: when a node dies
   * mid-attempt, the retry waits this long. Default: the timeout plus LEASE_SLACK_MS.
   */
  leaseMs?: number;
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
/** Beyond the receiver's timeout, an attempt reads the task and renders its body (not under the timeout). */
const LEASE_SLACK_MS = 30_000;

export class WebhookDispatcher implements TaskWebhooks {
  private readonly inflight = new Map<string, Promise<void>>();
  /** register() calls not finished yet, so a task finishing at once is armed after its row exists. */
  private readonly registering = new Map<string, Promise<void>>();
  /** Claims run one at a time, so concurrent launches never claim beyond the concurrency limit. */
  private launching: Promise<unknown> = Promise.resolve();
  /** Ticks and arming in progress: stop() waits for them, so none touches the store after it. */
  private readonly background = new Set<Promise<void>>();
  private ticking = false;
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
    const done = this.opts.store.register(task.id, task.webhookUrl!, baseUrl, this.now())
      // The task is queued either way; its delivery is armed when it finishes (links then use the fallback base).
      .catch((err) => this.opts.log.error({ err, taskId: task.id }, 'could not record the webhook of a new task'))
      .finally(() => this.registering.delete(task.id));
    this.registering.set(task.id, done);
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
    this.unsubscribe = this.opts.events.subscribe((e) => {
      if (FINAL_EVENTS.has(e.type)) this.onFinal(e.taskId);
    });
    this.timer = setInterval(() => this.track(this.tick()), this.opts.tickMs ?? 1000);
    this.timer.unref();
    this.track(this.tick(true));
  }

  /**
   * Stops; attempts in flight are abandoned unrecorded, so they stay pending and resume after
   * a restart (or on another node once their lease runs out).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.shutdown.abort();
    await Promise.allSettled([this.launching, ...this.registering.values(), ...this.background]);
    await Promise.allSettled([...this.inflight.values()]);
  }

  private track(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  // ---- maintenance: plain functions, also called directly by tests ----

  /** Arms the deliveries of final tasks that have none armed yet. Returns how many. */
  async armMissing(): Promise<number> {
    let armed = 0;
    for (let batch = 0; batch < 100; batch++) {
      const missing = await this.opts.store.unarmed(SCAN_BATCH);
      for (const m of missing) if (await this.opts.store.arm(m.taskId, m.url, this.now())) armed++;
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
    // Attempts in flight finish first: a clock set past their leases would otherwise claim them again.
    await Promise.allSettled([...this.inflight.values()]);
    const started = await this.launchDue(now);
    await Promise.allSettled([...this.inflight.values()]);
    return started;
  }

  private async tick(first = false): Promise<void> {
    if (this.ticking || this.stopped) return; // the previous tick is still waiting on the store
    this.ticking = true;
    try {
      if (first || ++this.ticks % SCAN_EVERY_TICKS === 0) await this.armMissing();
      await this.launchDue();
    } catch (err) {
      this.opts.log.error({ err }, 'webhook maintenance failed; will retry');
    } finally {
      this.ticking = false;
    }
  }

  private onFinal(taskId: string): void {
    // Listeners run inside the queue's write path: never throw there.
    this.track((async () => {
      await this.registering.get(taskId);
      const task = await this.opts.tasks.get(taskId);
      if (this.stopped || !task?.webhookUrl) return;
      if (await this.opts.store.arm(task.id, task.webhookUrl, this.now())) await this.launchDue();
    })().catch((err) => this.opts.log.error({ err, taskId }, 'could not arm a webhook delivery; the periodic scan will')));
  }

  /** Claims due deliveries (one claim at a time) and starts their attempts. Returns how many. */
  private launchDue(now?: number): Promise<number> {
    const run = this.launching.then(() => this.claimAndStart(now ?? this.now()));
    this.launching = run.catch(() => undefined);
    return run;
  }

  private async claimAndStart(now: number): Promise<number> {
    if (this.stopped) return 0;
    const free = (this.opts.concurrency ?? 8) - this.inflight.size;
    if (free <= 0) return 0;
    const leaseMs = this.opts.leaseMs ?? this.opts.timeoutMs + LEASE_SLACK_MS;
    // An attempt here that outlived its lease is still in flight: it is not started twice
    // (its record is refused if it lost the lease, and the delivery is due again later).
    const claimed = await this.opts.store.claimDue(now, free, leaseMs);
    // Stopped meanwhile: leave the claims to expire (as attempts abandoned by shutdown do).
    if (this.stopped) return 0;
    const due = claimed.filter((d) => !this.inflight.has(d.id));
    for (const d of due) {
      const run = this.attempt(d)
        .then((recorded) => {
          this.inflight.delete(d.id);
          if (recorded) this.launchDue().catch((err) => this.opts.log.error({ err }, 'webhook maintenance failed; will retry'));
        }, (err) => {
          this.inflight.delete(d.id);
          this.opts.log.error({ err, taskId: d.taskId }, 'webhook attempt could not be recorded; it stays pending');
        });
      this.inflight.set(d.id, run);
    }
    return due.length;
  }

  /** One attempt, recorded on the delivery. False when abandoned by shutdown (not recorded). */
  private async attempt(d: ClaimedDelivery): Promise<boolean> {
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
    const recorded = await this.opts.store.record(d.id, d.leaseToken, attempt, { status, nextAttemptAt }, this.now());
    const where = { taskId: d.taskId, host: safeHost(d.url), attempt: count, statusCode: outcome.statusCode };
    if (!recorded) {
      // Another node's claim replaced ours (this attempt outlived its lease): that node's attempt counts.
      this.opts.log.warn({ ...where, error: outcome.error }, 'webhook attempt not recorded: its lease ran out and another attempt took over');
      return true;
    }
    if (status === 'delivered') this.opts.log.info(where, 'webhook delivered');
    else if (status === 'pending') this.opts.log.warn({ ...where, error: outcome.error, nextAttemptAt: new Date(nextAttemptAt!).toISOString() }, 'webhook attempt failed; will retry');
    else this.opts.log.warn({ ...where, error: outcome.error }, 'webhook delivery failed for good');
    return true;
  }

  private async send(d: ClaimedDelivery, signal: AbortSignal): Promise<Outcome> {
    const task = await this.opts.tasks.get(d.taskId);
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
