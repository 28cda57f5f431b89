import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../../errors.js';
import { TASK_ID_RE } from '../../ids.js';
import { presentTask } from '../../tasks/present.js';
import { closePreviewStore, presentPreview, previewStoreFor } from '../../tasks/previews.js';
import type { TaskRecord } from '../../interfaces.js';
import type { TaskView } from '../../tasks/service.js';
import { canSee } from '../auth.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { requestLifetime } from '../lifetime.js';
import { RenderedAnswers } from '../limits/renderedAnswers.js';
import { binary, ref, waitQuery } from '../schemas.js';

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

export const previewNotFound = (id: string) =>
  new ApiError(404, 'preview_not_found',
    `Task "${id}" has no live preview now: previews exist only while a task runs (every ZIMAGE_PREVIEW_EVERY steps, when that is not 0), ` +
    'and are gone once it ends. Poll the task; its "preview" field appears when there is one.', 'task_id');

/**
 * The task's JSON as the poll answers it: presentTask, plus `preview` (where the latest live
 * preview is) while the task runs and has one.
 */
export async function presentWithPreview(deps: AppDeps, view: TaskView, baseUrl: string): Promise<Record<string, unknown>> {
  const body = await presentTask(view, baseUrl, deps.storage);
  if (view.task.state === 'running') {
    const preview = previewStoreFor(deps.queue).store.get(view.task.id);
    if (preview) body.preview = presentPreview(view.task.id, preview, baseUrl);
  }
  return body;
}

/** Memory for finished b64_json answers rendered once and sent to every poller (see RenderedAnswers). */
export const RENDERED_ANSWER_BYTES = 64 * 1024 * 1024;

/** Answers worth rendering once: a completed task whose images are inline (megabytes of base64). */
const isLargeFinal = (view: TaskView) => view.task.state === 'completed' && view.task.params.response_format === 'b64_json';

/** What can still change in a finished task's answer: its state (retention expires it) and its webhook delivery. */
const fingerprintOf = (view: TaskView) => `${view.task.state}:${view.task.finishedAt}:${JSON.stringify(view.webhook ?? null)}`;

export async function taskStatusRoutes(app: FastifyInstance, deps: AppDeps) {
  // The latest preview of each running task, heard from the task events from now on.
  const { created } = previewStoreFor(deps.queue);
  if (created) app.addHook('onClose', async () => closePreviewStore(deps.queue));
  const rendered = new RenderedAnswers(RENDERED_ANSWER_BYTES);

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
      const baseUrl = baseUrlOf(request, deps.config);
      if (!isLargeFinal(view)) return presentWithPreview(deps, view, baseUrl);
      const final = view;
      // Serialised by the route's own response schema, exactly as an object answer would be.
      const body = await rendered.get(`${id} ${baseUrl}`, fingerprintOf(final),
        async () => Buffer.from(String(reply.serialize(await presentWithPreview(deps, final, baseUrl)))));
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get<{ Params: { task_id: string } }>(
    '/v1/images/tasks/:task_id/preview',
    {
      exposeHeadRoute: false,
      schema: {
        summary: 'The latest live preview of a running task (small WebP; 404 when there is none)',
        description: 'A small (at most 256 px) picture of the unfinished image, replaced every ZIMAGE_PREVIEW_EVERY steps while the task runs. ' +
          'Not an output: it is never stored and is gone once the task ends. The poll answer\'s `preview` field says when there is one (step, size, this URL).',
        tags: ['tasks'],
        response: {
          200: { description: 'The preview image.', content: { 'image/webp': { schema: binary('The preview (WebP).', 'image/webp') } } },
          404: ref.error('No such task (or not yours), or no preview now (queued, finished, or previews are off).'),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.task_id;
      const task = await visibleRecord(deps, request, id);
      if (!task) return sendTaskNotFound(reply, id);
      const preview = task.state === 'running' ? previewStoreFor(deps.queue).store.get(id) : undefined;
      if (!preview) return sendError(reply, previewNotFound(id));
      return reply
        .header('content-type', 'image/webp')
        .header('cache-control', 'no-store')
        .header('x-preview-step', String(preview.step))
        .header('x-preview-total-steps', String(preview.total))
        .send(preview.data);
    },
  );
}
