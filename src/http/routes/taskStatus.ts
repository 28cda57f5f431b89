import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../../errors.js';
import { TASK_ID_RE } from '../../ids.js';
import { presentTask } from '../../tasks/present.js';
import type { TaskRecord } from '../../interfaces.js';
import type { TaskView } from '../../tasks/service.js';
import { canSee } from '../auth.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { requestLifetime } from '../lifetime.js';
import { ref, waitQuery } from '../schemas.js';

export const taskNotFound = (id: string) =>
  new ApiError(404, 'task_not_found', `No task with id "${id}". Check the task_id from your submit response; it may also have been removed long after it finished.`, 'task_id');

/** 404 keeps `"status": "failed"` beside the error, so a poller that only reads status stops. */
export const sendTaskNotFound = (reply: FastifyReply, id: string) =>
  sendError(reply, taskNotFound(id), { status: 'failed' });

/**
 * The task this request names, if it exists and the caller may see it. Another caller's
 * task is "not found", so task ids cannot be probed across API keys.
 */
export async function visibleTask(deps: AppDeps, request: FastifyRequest, id: string): Promise<TaskView | undefined> {
  const view = TASK_ID_RE.test(id) ? await deps.tasks.view(id) : undefined;
  return view && canSee(request, view.task) ? view : undefined;
}

/** Like visibleTask, for callers that need only the stored record (no position, ETA or webhook). */
export async function visibleRecord(deps: AppDeps, request: FastifyRequest, id: string): Promise<TaskRecord | undefined> {
  const task = TASK_ID_RE.test(id) ? await deps.tasks.get(id) : undefined;
  return task && canSee(request, task) ? task : undefined;
}

export const MAX_WAIT_SECONDS = 60;

/** `?wait=N`: seconds to hold the answer until the task finishes (0 = answer at once). */
export function parseWait(raw: unknown): number {
  if (raw === undefined) return 0;
  const n = typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
  if (!(n <= MAX_WAIT_SECONDS)) {
    throw invalid('invalid_wait',
      `"wait" must be a number of seconds from 0 to ${MAX_WAIT_SECONDS} (e.g. ?wait=30): the answer then comes as soon as the task finishes, or after that long.`,
      'wait');
  }
  return n;
}

export async function taskStatusRoutes(app: FastifyInstance, deps: AppDeps) {

  app.get<{ Params: { task_id: string }; Querystring: { wait?: string } }>(
    '/v1/images/tasks/:task_id',
    {
      schema: {
        summary: 'Poll a task until status is completed (?wait=N holds the answer up to N s until it finishes)',
        tags: ['tasks'],
        querystring: waitQuery(MAX_WAIT_SECONDS),
        response: {
          200: ref.task('The task: "processing" until it is "completed" (data[]), "failed" (error) or "canceled".'),
          400: ref.error('Invalid ?wait.'),
          404: ref.taskNotFound('No such task (or not yours).'),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.task_id;
      const wait = parseWait(request.query.wait);
      let view = await visibleTask(deps, request, id);
      if (!view) return sendTaskNotFound(reply, id);
      if (wait > 0 && (view.task.state === 'queued' || view.task.state === 'running')) {
        const life = requestLifetime(reply, deps.closing);
        try {
          const task = await deps.tasks.waitUntilFinal(id, wait * 1000, life.signal);
          if (task) view = await deps.tasks.viewOf(task);
        } finally {
          life.done();
        }
      }
      return presentTask(view, baseUrlOf(request, deps.config), deps.storage);
    },
  );
}
