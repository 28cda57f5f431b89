/**
 * Task lifecycle metrics from the task events (the worker is not touched): counters as the
 * events arrive, and on each final event one read of the task record for its durations (its
 * own timestamps: exact across restarts, nothing held per queued task). Stage times (engine,
 * finish) come from the event times of a running task: its start, its last denoising step and
 * its completion, all stamped by the process that ran it.
 *
 * In a fleet every API node hears every task's events, so these count the fleet's tasks on
 * each node (aggregate them across API nodes with max(), not sum()).
 */
import type { TaskEvent, TaskEvents, TaskRecord, TaskStore } from '../interfaces.js';
import type { Logger } from '../log.js';
import type { ServerMetrics } from './registry.js';

/** Running tasks whose stages are being timed; bounded so lost final events cannot grow it. */
const MAX_TRACKED = 10_000;
/** Distinct failure codes kept as labels; codes beyond (or not code-shaped) count as "other". */
const MAX_CODES = 64;
const CODE_RE = /^[a-z][a-z0-9_]{0,47}$/;

interface Stages {
  startedAt: number;
  /** When the last denoising step was reported. */
  denoisedAt?: number;
}

export function watchTasks(
  metrics: ServerMetrics, events: TaskEvents, tasks: Pick<TaskStore, 'get'>, log: Logger,
): () => void {
  const running = new Map<string, Stages>();
  const codes = new Set<string>();
  const codeLabel = (code: string) => {
    if (!CODE_RE.test(code)) return 'other';
    if (!codes.has(code) && codes.size >= MAX_CODES) return 'other';
    codes.add(code);
    return code;
  };

  const observeRecord = (task: TaskRecord) => {
    const { kind, state } = task;
    if (task.startedAt !== null) metrics.queueWait.observe({ kind }, Math.max(0, task.startedAt - task.createdAt) / 1000);
    if (task.finishedAt !== null) {
      if (task.startedAt !== null) metrics.runTime.observe({ kind, state }, Math.max(0, task.finishedAt - task.startedAt) / 1000);
      metrics.totalTime.observe({ kind, state }, Math.max(0, task.finishedAt - task.createdAt) / 1000);
    }
    if (state === 'failed') metrics.failures.inc({ code: codeLabel(task.error?.code ?? 'unknown') });
  };

  const onFinal = (e: TaskEvent) => {
    metrics.finished.inc({ state: e.type });
    const stages = running.get(e.taskId);
    running.delete(e.taskId);
    if (e.type === 'completed' && stages?.denoisedAt !== undefined) {
      metrics.stageTime.observe({ stage: 'engine' }, Math.max(0, stages.denoisedAt - stages.startedAt) / 1000);
      metrics.stageTime.observe({ stage: 'finish' }, Math.max(0, e.at - stages.denoisedAt) / 1000);
    }
    tasks.get(e.taskId).then(
      (task) => task && observeRecord(task),
      (err) => log.debug({ err, task: e.taskId }, 'metrics: could not read a finished task'),
    );
  };

  // Listeners run inside the queue's write path: nothing here may throw.
  return events.subscribe((e) => {
    try {
      switch (e.type) {
        case 'queued':
          metrics.submitted.inc();
          break;
        case 'started':
          metrics.started.inc();
          if (running.size >= MAX_TRACKED) running.delete(running.keys().next().value!);
          running.set(e.taskId, { startedAt: e.at });
          break;
        case 'progress': {
          const stages = running.get(e.taskId);
          if (stages && e.progress && e.progress.step >= e.progress.total) stages.denoisedAt = e.at;
          break;
        }
        case 'requeued':
          metrics.requeued.inc();
          running.delete(e.taskId);
          break;
        case 'completed':
        case 'failed':
        case 'canceled':
          onFinal(e);
          break;
        default:
          break;
      }
    } catch (err) {
      log.debug({ err }, 'metrics: task event not counted');
    }
  });
}
