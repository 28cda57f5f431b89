import type { FastifyInstance } from 'fastify';
import type { TaskRecord } from '../../interfaces.js';
import { EditRequest, GenerateRequest, toTaskParams } from '../../tasks/params.js';
import { publicStatus } from '../../tasks/present.js';
import { jsonEditBodyLimit, maxUploadBytes, type AppDeps } from '../context.js';
import { editSubmission, submitMeta } from '../imageSubmit.js';
import { readImageForm } from '../multipart.js';
import { ref, submitBody, submitErrors, SubmitHeaders } from '../schemas.js';

/**
 * The submit answer of the skill contract, with a hint on how to poll. A repeated
 * Idempotency-Key answers the task it made the first time, as it stands now: "Task queued"
 * would be wrong for one that has finished.
 */
export function accepted(task: TaskRecord, created = true) {
  const poll = `GET /v1/images/tasks/${task.id}`;
  if (created) {
    return {
      task_id: task.id,
      status: 'processing' as const,
      message: `Task queued. Poll ${poll} every few seconds until "status" is "completed", then read data[].url.`,
    };
  }
  const status = publicStatus(task);
  const message = status === 'processing'
    ? `This Idempotency-Key was already used: it made this task, which is still processing. Poll ${poll} every few seconds until "status" is "completed".`
    : `This Idempotency-Key was already used: it made this task, which has finished ("${status}"). Read it with ${poll}; use a new key for a new task.`;
  return { task_id: task.id, status, message, replayed: true };
}

export async function asyncTaskRoutes(app: FastifyInstance, deps: AppDeps) {
  app.post('/v1/images/async_generate', {
    schema: {
      summary: 'Queue an image generation task', tags: ['async'], body: submitBody(GenerateRequest), headers: SubmitHeaders,
      response: { 200: ref.submit('Queued: poll GET /v1/images/tasks/{task_id}.'), ...submitErrors },
    },
  }, async (request) => {
    const params = toTaskParams('generate', request.body);
    const { task, created } = await deps.tasks.submit({ kind: 'generate', params, ...submitMeta(request, request.body, deps.config) });
    return accepted(task, created);
  });

  app.post('/v1/images/async_edit', {
    bodyLimit: jsonEditBodyLimit(deps.config),
    schema: {
      summary: 'Queue an image edit task (multipart: image + prompt)',
      description: 'Also accepts a JSON object with the image base64-encoded (or a data: URL) in "image", for clients that cannot send multipart.',
      tags: ['async'], consumes: ['multipart/form-data'],
      body: submitBody(EditRequest), headers: SubmitHeaders,
      response: { 200: ref.submit('Queued: poll GET /v1/images/tasks/{task_id}.'), ...submitErrors },
    },
  }, async (request) => {
    const form = await readImageForm(request, maxUploadBytes(deps.config));
    const edit = await editSubmission(form, deps.config.maxInputPixels);
    const { task, created } = await deps.tasks.submit({ ...edit, ...submitMeta(request, form.fields, deps.config) });
    return accepted(task, created);
  });
}
