/** Why an OpenAI request got no images: a task that ended without them, or a wait that ended first. */
import { ApiError } from '../../errors.js';
import type { TaskRecord } from '../../interfaces.js';
import type { AppDeps } from '../context.js';
import type { WaitOutcome } from '../syncTask.js';

/**
 * A task that ended without images, as an OpenAI error with the task's own code and message.
 * - failed, out_of_memory → 503: the GPU could not fit this request now; fewer or smaller
 *   images (or a quieter moment) may. Anything else failed → 500 server_error.
 * - canceled → 409 conflict: someone canceled the task (DELETE/cancel) while this request
 *   waited; the request did not fail, its task is simply gone. 4xx, since repeating the
 *   same request would undo a deliberate cancel.
 * `x-should-retry` tells the OpenAI SDKs (which otherwise retry 409 and every 5xx) whether
 * resubmitting can help: only when the task's error says it is retryable.
 */
export function taskEnded(task: TaskRecord): { error: ApiError; retry: boolean } {
  if (task.state === 'canceled') {
    return {
      error: new ApiError(409, 'task_canceled', `Task ${task.id} was canceled before it finished. Submit the request again if you still want the image.`),
      retry: false,
    };
  }
  const code = task.error?.code ?? 'task_failed';
  const message = task.error?.message ?? `Task ${task.id} failed.`;
  return { error: new ApiError(code === 'out_of_memory' ? 503 : 500, code, message), retry: task.error?.retryable ?? false };
}

/** Why a wait ended without images (not for 'final'), as the error the client gets. */
export function waitError(waited: Exclude<WaitOutcome, { outcome: 'final' }>, taskId: string, baseUrl: string, deps: AppDeps): ApiError {
  const pollHint = `Poll GET ${baseUrl}/v1/images/tasks/${taskId} until "status" is "completed", then read data[].`;
  switch (waited.outcome) {
    case 'timeout':
      return new ApiError(504, 'timeout',
        `Task ${taskId} did not finish within ${deps.config.syncTimeoutSeconds} s (ZIMAGE_SYNC_TIMEOUT_SECONDS). It keeps running: ${pollHint}`);
    case 'shutdown':
      return new ApiError(503, 'shutting_down',
        `The server is shutting down. Task ${taskId} is saved in the queue and runs when a worker is back: ${pollHint}`);
    case 'disconnected':
      return new ApiError(499, 'client_closed_request', `The client closed the connection; task ${taskId} was not waited for.`);
  }
}
