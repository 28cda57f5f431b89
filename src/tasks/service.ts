import { createHash } from 'node:crypto';
import { OwnerQueueFullError, QueueFullError, StorageFullError, TaskFinishedError, TaskNotFinishedError } from '../errors.js';
import { isNoSpaceError } from '../storage/faults.js';
import { newTaskId } from '../ids.js';
import {
  FINAL_STATES, type ListOptions, type Storage, type TaskEvents, type TaskStore, type TaskKind, type TaskPage, type TaskParams, type TaskRecord,
} from '../interfaces.js';
import type { Logger } from '../log.js';
import type { WorkerInfo, WorkerRegistry } from '../worker/registry.js';
import { Eta } from './eta.js';

export interface Upload {
  data: Buffer;
  contentType: string;
}

export interface SubmitInput {
  kind: TaskKind;
  params: TaskParams;
  image?: Upload;
  mask?: Upload;
  owner?: string;
  idempotencyKey?: string | null;
  webhookUrl?: string | null;
  /** Base URL for image links in the webhook body: the submitting request's (see src/webhooks/). */
  webhookBaseUrl?: string | null;
}

/** One webhook delivery attempt. Times are epoch ms. */
export interface WebhookAttempt {
  at: number;
  /** The receiver's HTTP status; null when no answer came (network error, timeout, refused target). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** Where a task's webhook delivery stands, shown on the task as `webhook`. */
export interface WebhookSummary {
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: WebhookAttempt[];
  /** Epoch ms of the next attempt; null when none is scheduled (done, or the task is not final yet). */
  nextAttemptAt: number | null;
}

/**
 * The webhook side, injected so that this service stays free of SQL and HTTP clients
 * (implemented by src/webhooks/).
 */
export interface TaskWebhooks {
  /** A new task with a webhook_url is durably queued. Must not throw. */
  accepted(task: TaskRecord, baseUrl: string | null): void;
  /** The task's delivery, for its `webhook` field. */
  summary(taskId: string): Promise<WebhookSummary | undefined>;
}

/** A task as the API shows it: the record plus where it stands in the queue. */
export interface TaskView {
  task: TaskRecord;
  queuePosition: number | null;
  etaSeconds: number | null;
  /** Steps the task will run: its progress total, else what it asked for, else the default of the engine that will run it. */
  totalSteps?: number | null;
  /** Present for tasks submitted with a webhook_url. */
  webhook?: WebhookSummary;
}

export interface TaskServiceOptions {
  maxQueue: number;
  /** Queued tasks one API key may have (ZIMAGE_MAX_QUEUED_PER_KEY); 0 or absent: no limit but maxQueue. */
  maxQueuedPerKey?: number;
  maxAttempts: number;
  /** The live workers: their number divides queue ETAs; their engines' default steps size queued tasks. */
  workers: WorkerRegistry;
  webhooks?: TaskWebhooks;
  /**
   * Waits re-read the record this often, so a missed event (events are hints in a fleet)
   * delays an answer by at most this much. Undefined: events alone (embedded, in-process).
   */
  recheckMs?: number;
}

/**
 * What a request asked for, for Idempotency-Key checks: its kind, parameters, uploads and
 * webhook. The seed is left out: an unseeded request gets a fresh random seed on every try,
 * so comparing it would refuse honest retries (a retry that changes only the seed is not caught).
 */
export function requestHash(input: SubmitInput): string {
  const hash = createHash('sha256');
  const { seed: _seed, ...params } = input.params;
  const sorted = Object.fromEntries(Object.entries(params).sort(([a], [b]) => a.localeCompare(b)));
  hash.update(JSON.stringify([input.kind, sorted, input.webhookUrl ?? null]));
  for (const upload of [input.image, input.mask]) hash.update(upload ? createHash('sha256').update(upload.data).digest() : Buffer.alloc(0));
  return hash.digest('hex');
}

/** The steps a task of this kind runs by default on the live workers (the most common answer), if any is live. */
function defaultStepsOf(workers: WorkerInfo[], kind: TaskKind): number | undefined {
  const counts = new Map<number, number>();
  for (const w of workers) counts.set(w.defaultSteps[kind], (counts.get(w.defaultSteps[kind]) ?? 0) + 1);
  let best: number | undefined;
  for (const [steps, n] of counts) if (best === undefined || n > counts.get(best)!) best = steps;
  return best;
}

/**
 * The task model's rules: submit, read, list, cancel, delete. The HTTP layer calls only this;
 * this calls only the queue and storage.
 */
export class TaskService {
  readonly eta: Eta;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly queue: TaskStore & TaskEvents,
    private readonly storage: Storage,
    private readonly opts: TaskServiceOptions,
  ) {
    this.eta = new Eta();
    // Learn how long tasks take from the ones that finish, for queue ETAs.
    this.unsubscribe = queue.subscribe((e) => {
      if (e.type === 'completed') void this.queue.get(e.taskId).then((t) => t && this.eta.record(t));
    });
  }

  /** Stores the uploads, then commits the task. Resolves only once the task is durable. */
  /** The store's QueueFullError, with how long waiting is worth (mapped to 503 + Retry-After in src/http/errors.ts). */
  private queueFull(queued: number): QueueFullError {
    return new QueueFullError(queued, this.retryAfter());
  }

  /** Seconds worth waiting for a queue slot: about one task's run. */
  private retryAfter(): number {
    return Math.max(5, Math.ceil(this.eta.averageSeconds() ?? 5));
  }

  async submit(input: SubmitInput): Promise<{ task: TaskRecord; created: boolean }> {
    // A cheap early refusal before uploads are stored; the enqueue transaction makes the real check.
    // A repeated idempotency key skips it, so a retry still finds its task when the queue is full.
    if (!input.idempotencyKey) {
      const { queued } = await this.queue.stats();
      if (queued >= this.opts.maxQueue) throw this.queueFull(queued);
      await this.refuseIfFull();
    }
    const keys: string[] = [];
    try {
      const stash = async (upload: Upload | undefined, what: string) => {
        if (!upload) return null;
        const key = `uploads/${newTaskId()}_${what}`;
        await this.storage.put(key, upload.data, upload.contentType);
        keys.push(key);
        return key;
      };
      const inputKey = await stash(input.image, 'image');
      const maskKey = await stash(input.mask, 'mask');
      const out = await this.queue.enqueue({
        kind: input.kind, params: input.params, inputKey, maskKey, owner: input.owner,
        requestHash: input.idempotencyKey ? requestHash(input) : null,
        idempotencyKey: input.idempotencyKey, webhookUrl: input.webhookUrl, maxAttempts: this.opts.maxAttempts,
      }, {
        maxQueued: this.opts.maxQueue,
        // Per key: a caller without one (auth off) is everyone, and maxQueue already bounds everyone.
        maxQueuedPerOwner: input.owner !== undefined && this.opts.maxQueuedPerKey ? this.opts.maxQueuedPerKey : undefined,
      });
      // A repeated idempotency key returns the first task; the new uploads are not needed.
      if (!out.created) await Promise.all(keys.map((k) => this.storage.delete(k)));
      else if (out.task.webhookUrl) this.opts.webhooks?.accepted(out.task, input.webhookBaseUrl ?? null);
      return out;
    } catch (err) {
      await Promise.all(keys.map((k) => this.storage.delete(k).catch(() => undefined)));
      if (err instanceof QueueFullError) throw this.queueFull(err.queued);
      if (err instanceof OwnerQueueFullError) throw new OwnerQueueFullError(err.owner, err.queued, err.limit, this.retryAfter());
      throw this.noSpace(err) ?? err;
    }
  }

  /** New work is refused while the disks are full (507 storage_full), before any upload is written. */
  private async refuseIfFull(): Promise<void> {
    const space = await this.storage.space?.check();
    if (space?.full) throw new StorageFullError(space.reason ?? 'no space left');
  }

  /** An upload or the task's record that could not be written for lack of space, as StorageFullError (else undefined). */
  private noSpace(err: unknown): StorageFullError | undefined {
    if (!isNoSpaceError(err)) return undefined;
    this.storage.space?.noteNoSpace();
    return err instanceof StorageFullError ? err : new StorageFullError('no space left to record the task', 30, { cause: err });
  }

  /** The stored task alone, without queue position or ETA (cheaper than view). */
  get(id: string): Promise<TaskRecord | undefined> {
    return this.queue.get(id);
  }

  async view(id: string): Promise<TaskView | undefined> {
    const task = await this.queue.get(id);
    if (!task) return undefined;
    return this.viewOf(task);
  }

  async viewOf(task: TaskRecord): Promise<TaskView> {
    let queuePosition: number | null = null;
    let etaSeconds: number | null = null;
    const workers = task.state === 'queued' || task.state === 'running' ? await this.opts.workers.live() : [];
    const defaultSteps = defaultStepsOf(workers, task.kind);
    if (task.state === 'queued') {
      queuePosition = (await this.queue.position(task.id)) ?? 0;
      etaSeconds = this.eta.forQueued(queuePosition, (await this.queue.stats()).running, workers.length);
    } else if (task.state === 'running') {
      etaSeconds = this.eta.forRunning(task, task.params.num_inference_steps ?? defaultSteps ?? 8);
    }
    const totalSteps = task.progress?.total ?? task.params.num_inference_steps ?? defaultSteps ?? null;
    const view: TaskView = { task, queuePosition, etaSeconds, totalSteps };
    if (task.webhookUrl && this.opts.webhooks) {
      view.webhook = (await this.opts.webhooks.summary(task.id))
        ?? { url: task.webhookUrl, status: 'pending', attempts: [], nextAttemptAt: null };
    }
    return view;
  }

  async list(opts: ListOptions): Promise<TaskPage> {
    return this.queue.list(opts);
  }

  /** Cancels a task: at once if queued, within one step if running. 409 if already finished. */
  async cancel(id: string): Promise<TaskRecord | undefined> {
    const before = await this.queue.get(id);
    if (!before) return undefined;
    if (FINAL_STATES.includes(before.state)) {
      throw new TaskFinishedError(id, before.state);
    }
    return this.queue.cancel(id);
  }

  /**
   * Deletes a finished task (completed, failed or canceled; an expired tombstone too), then its
   * images and uploads. False when there is no such task (unknown, or deleted meanwhile);
   * TaskNotFinishedError while it is queued or running, so that a delete never stops work
   * (cancel it first). `log` is the caller's, so a warning names the request.
   */
  async delete(id: string, log: Pick<Logger, 'warn'>): Promise<boolean> {
    const removed = await this.queue.remove(id);
    if (!removed) {
      const task = await this.queue.get(id);
      if (task) throw new TaskNotFinishedError(id, task.state);
      return false;
    }
    await this.deleteFiles(id, removed.keys, log);
    return true;
  }

  /**
   * The row is already gone, so failing the request would only make a retry answer 404:
   * a storage error is logged and the files are left behind (as retention does), never thrown.
   */
  private async deleteFiles(id: string, keys: string[], log: Pick<Logger, 'warn'>): Promise<void> {
    if (keys.length === 0) return;
    await this.storage.deleteMany(keys)
      .catch((err) => log.warn({ err, taskId: id, keys }, 'deleted a task but not all of its files; they are left in storage'));
  }

  /**
   * Resolves with the task once it is final (completed, failed, canceled), or with its
   * current state when timeoutMs passes or the signal aborts. Undefined for an unknown id.
   */
  async waitUntilFinal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskRecord | undefined> {
    const isFinal = (t: TaskRecord) => FINAL_STATES.includes(t.state);
    // Subscribe before reading, so a final event between the read and the subscription is not missed.
    let finished!: () => void;
    const final = new Promise<void>((resolve) => { finished = resolve; });
    const unsubscribe = this.queue.subscribe((e) => {
      if (e.taskId === id && (e.type === 'completed' || e.type === 'failed' || e.type === 'canceled')) finished();
    });
    try {
      const task = await this.queue.get(id);
      if (!task || isFinal(task) || timeoutMs <= 0 || signal?.aborted) return task;
      let timer: NodeJS.Timeout | undefined;
      let recheck: NodeJS.Timeout | undefined;
      const onAbort = () => finished();
      signal?.addEventListener('abort', onAbort);
      if (this.opts.recheckMs) {
        // The backstop for a missed final event: the record is the truth.
        recheck = setInterval(() => {
          this.queue.get(id).then((t) => { if (!t || isFinal(t)) finished(); }, () => undefined);
        }, this.opts.recheckMs);
      }
      await Promise.race([final, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(timer);
      clearInterval(recheck);
      signal?.removeEventListener('abort', onAbort);
      return await this.queue.get(id);
    } finally {
      unsubscribe();
    }
  }

  close(): void {
    this.unsubscribe();
  }
}
