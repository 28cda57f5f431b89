import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import { TASK_ID_RE } from '../../ids.js';
import { presentTask } from '../../tasks/present.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';

export const taskNotFound = (id: string) =>
  new ApiError(404, 'task_not_found', `No task with id "${id}". Check the task_id from your submit response; it may also have been removed long after it finished.`, 'task_id');

/** 404 keeps `"status": "failed"` beside the error, so a poller that only reads status stops. */
export const sendTaskNotFound = (reply: import('fastify').FastifyReply, id: string) =>
  sendError(reply, taskNotFound(id), { status: 'failed' });

export async function taskStatusRoutes(app: FastifyInstance, deps: AppDeps) {
  app.get<{ Params: { task_id: string } }>(
    '/v1/images/tasks/:task_id',
    { schema: { summary: 'Poll a task until status is completed', tags: ['tasks'] } },
    async (request, reply) => {
      const id = request.params.task_id;
      const view = TASK_ID_RE.test(id) ? await deps.tasks.view(id) : undefined;
      if (!view) return sendTaskNotFound(reply, id);
      return presentTask(view, baseUrlOf(request, deps.config), deps.storage);
    },
  );
}
