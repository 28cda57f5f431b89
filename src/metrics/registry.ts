/**
 * The server's Prometheus metrics (`zimage_*`), one set per server. A process normally runs one
 * server; tests start several in one process, so nothing here is a global except the
 * process-wide `process_*` / `nodejs_*` metrics (which describe the process, not a server).
 *
 * Every instrument is fed from an event or a hook as it happens (task events, HTTP responses,
 * webhook attempts) or read at scrape time from something already cheap (the store's
 * queued/running counts, the cached worker registry). A scrape never scans tasks.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds buckets: from a fast poll to a long generation or a queue that waited an hour. */
const TASK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];
const STAGE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const WEBHOOK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/** process_* and nodejs_* (CPU, RSS, open file descriptors, heap, event-loop lag, GC): once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];

  // ---- tasks (fed by taskMetrics.ts from the task events) ----
  readonly submitted = new Counter({ name: 'zimage_tasks_submitted_total', help: 'Tasks accepted (committed to the queue).', registers: this.registers });
  readonly started = new Counter({ name: 'zimage_task_starts_total', help: 'Task runs started (a retried task starts again).', registers: this.registers });
  readonly requeued = new Counter({ name: 'zimage_task_requeues_total', help: 'Running tasks handed back to the queue (retry after an error, shutdown, a lost worker).', registers: this.registers });
  readonly finished = new Counter({
    name: 'zimage_tasks_finished_total', help: 'Tasks that reached a final state.', labelNames: ['state'] as const, registers: this.registers,
  });
  readonly failures = new Counter({
    name: 'zimage_task_failures_total', help: 'Failed tasks by error code (the code a poll answers in error.code).', labelNames: ['code'] as const, registers: this.registers,
  });
  readonly queueWait = new Histogram({
    name: 'zimage_task_queue_wait_seconds', help: 'Submit to (last) start of a task.', labelNames: ['kind'] as const, buckets: TASK_BUCKETS, registers: this.registers,
  });
  readonly runTime = new Histogram({
    name: 'zimage_task_run_seconds', help: 'Start to final state of a task that started, by outcome.', labelNames: ['kind', 'state'] as const, buckets: TASK_BUCKETS, registers: this.registers,
  });
  readonly totalTime = new Histogram({
    name: 'zimage_task_total_seconds', help: 'Submit to final state, as the client waits for it.', labelNames: ['kind', 'state'] as const, buckets: TASK_BUCKETS, registers: this.registers,
  });
  readonly stageTime = new Histogram({
    name: 'zimage_task_stage_seconds',
    help: 'Stages of completed tasks: engine (start to the last denoising step: input decode, text encoding, denoising) and finish (last step to completed: VAE decode, image encoding, storage writes, commit).',
    labelNames: ['stage'] as const, buckets: STAGE_BUCKETS, registers: this.registers,
  });

  // ---- HTTP (fed by httpMetrics.ts) ----
  readonly httpRequests = new Counter({
    name: 'zimage_http_requests_total', help: 'HTTP requests answered, by method, route template and status.', labelNames: ['method', 'route', 'status'] as const, registers: this.registers,
  });
  readonly httpDuration = new Histogram({
    name: 'zimage_http_request_duration_seconds', help: 'Time to answer (for long polls and event streams: until they ended).', labelNames: ['method', 'route'] as const, buckets: HTTP_BUCKETS, registers: this.registers,
  });

  // ---- webhooks (fed by webhookMetrics.ts) ----
  readonly webhookAttempts = new Counter({
    name: 'zimage_webhook_attempts_total', help: 'Webhook attempts made by this process: delivered (2xx), retry (failed, will retry) or failed (for good).', labelNames: ['outcome'] as const, registers: this.registers,
  });
  readonly webhookDuration = new Histogram({
    name: 'zimage_webhook_attempt_duration_seconds', help: 'Duration of a webhook attempt (DNS, connect, answer).', buckets: WEBHOOK_BUCKETS, registers: this.registers,
  });

  // ---- workers (fed by workerMetrics.ts) ----
  readonly workerBusy = new Counter({
    name: 'zimage_worker_busy_seconds_total', help: 'Seconds engine workers spent running a task, summed over workers (rate() of it / rate(zimage_worker_seconds_total) is the busy ratio).', registers: this.registers,
  });
  readonly workerTime = new Counter({
    name: 'zimage_worker_seconds_total', help: 'Seconds engine workers were live, summed over workers.', registers: this.registers,
  });

  private stopWatchers: (() => void) | undefined;

  constructor() {
    processMetrics(); // from now on: GC and event-loop observations start with the first server
  }

  /**
   * Registers a gauge whose value is read at scrape time (values must come from something cheap).
   * A second app built on the same store replaces the first one's gauge instead of clashing.
   */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect: (g: Gauge<L>) => Promise<void> | void): Gauge<L> {
    this.registry.removeSingleMetric(name);
    return new Gauge({ name, help, labelNames, registers: this.registers, collect() { return collect(this); } });
  }

  /** Starts the event and sampling feeds (stopping any earlier ones, so nothing counts twice); returns their stop. */
  watch(start: () => Array<() => void>): () => void {
    this.stopWatchers?.();
    const stops = start();
    const stop = () => {
      for (const s of stops) s();
      if (this.stopWatchers === stop) this.stopWatchers = undefined;
    };
    this.stopWatchers = stop;
    return stop;
  }

  /** The Prometheus text exposition: this server's metrics, then the process's. */
  async render(): Promise<string> {
    const [own, proc] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${own}\n${proc}`;
  }

  readonly contentType = this.registry.contentType;
}

/**
 * One ServerMetrics per task store: server.ts (webhook attempts) and the HTTP app (routes,
 * hooks, task events) find the same set through the store they share, without a new field
 * on every dependency list. Weak, so a closed test server's metrics are collected with it.
 */
const byStore = new WeakMap<object, ServerMetrics>();

export function metricsOf(store: object): ServerMetrics {
  let m = byStore.get(store);
  if (!m) byStore.set(store, (m = new ServerMetrics()));
  return m;
}
