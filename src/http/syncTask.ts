/**
 * Waiting on one task inside an HTTP request, for the synchronous (OpenAI-compatible)
 * endpoints. The task is queued exactly like an async one; this only decides how long the
 * request holds on and what happens when its client goes away first.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { FINAL_STATES, type TaskRecord } from '../interfaces.js';
import type { TaskService } from '../tasks/service.js';
import { requestLifetime } from './lifetime.js';

export type WaitOutcome =
  | { outcome: 'final'; task: TaskRecord }
  /** Still queued or running when the wait ran out. */
  | { outcome: 'timeout' }
  /** The client closed the connection before an answer could be sent. */
  | { outcome: 'disconnected' }
  /** The server is closing; the task stays in the durable queue. */
  | { outcome: 'shutdown' };

export interface WaitOptions {
  tasks: TaskService;
  log: FastifyBaseLogger;
  timeoutMs: number;
  /** Aborted when the server begins to close, so open waits answer at once instead of holding shutdown. */
  shutdown: AbortSignal;
  /**
   * Whether this request alone owns the task: it created it and sent no Idempotency-Key.
   * A keyed task may be awaited by a retry of the same request, so a disconnect never cancels it.
   */
  cancelOnDisconnect: boolean;
}

/**
 * Waits until the task is final, the timeout passes, the client disconnects or the server
 * closes, whichever comes first.
 *
 * A client that disconnects while its task is still queued cancels it (unless the task was
 * submitted with an Idempotency-Key, which a retry may come back for): nobody is left to
 * receive the images, and the GPU time goes to the next caller. A task that is already
 * running keeps running to completion: the engine time is mostly spent, and its result
 * stays retrievable by id (logs, task listing) like any async task.
 */
export async function waitForTask(request: FastifyRequest, reply: FastifyReply, taskId: string, opts: WaitOptions): Promise<WaitOutcome> {
  const life = requestLifetime(reply, opts.shutdown);
  // requestLifetime hears the connection close from now on; the client may have left
  // earlier, while the upload was read or the task submitted.
  const leftEarly = Boolean(request.raw.socket?.destroyed || reply.raw.destroyed);
  let task: TaskRecord | undefined;
  try {
    task = await opts.tasks.waitUntilFinal(taskId, leftEarly ? 0 : opts.timeoutMs, life.signal);
  } finally {
    life.done();
  }
  if (task && FINAL_STATES.includes(task.state)) return { outcome: 'final', task };
  if (opts.shutdown.aborted) return { outcome: 'shutdown' };
  if (leftEarly || life.signal.aborted) {
    if (opts.cancelOnDisconnect) await cancelIfQueued(opts.tasks, taskId, opts.log);
    return { outcome: 'disconnected' };
  }
  return { outcome: 'timeout' };
}

/**
 * Cancels the task only while it is still queued. The check and the cancel are two steps:
 * if a worker claims the task between them, the cancel reaches a running task and stops it
 * within a step, which is an acceptable outcome for a caller that has already gone.
 */
async function cancelIfQueued(tasks: TaskService, taskId: string, log: FastifyBaseLogger): Promise<void> {
  try {
    const view = await tasks.view(taskId);
    if (view?.task.state !== 'queued') {
      log.info({ task: taskId, state: view?.task.state }, 'sync client disconnected; task keeps running');
      return;
    }
    await tasks.cancel(taskId);
    log.info({ task: taskId }, 'sync client disconnected while its task was queued; task canceled');
  } catch (err) {
    // A task that finished meanwhile answers 409: nothing left to cancel.
    log.info({ task: taskId, err: (err as Error).message }, 'sync client disconnected; task not canceled');
  }
}
