import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../../errors.js';
import { FINAL_STATES, type TaskRecord, type TaskState } from '../../interfaces.js';
import { presentTask } from '../../tasks/present.js';
import type { TaskView } from '../../tasks/service.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { cancelResponses, deleteResponses, ref } from '../schemas.js';
import { requestLifetime } from '../lifetime.js';
import { sendTaskNotFound, visibleRecord } from './taskStatus.js';

/** How long a cancel of a running task waits for the worker to stop before answering 202. */
export const CANCEL_WAIT_MS = 2000;

/** Public statuses (and the internal stages of "processing") a list may filter on. */
const STATUS_STATES: Record<string, TaskState[]> = {
  processing: ['queued', 'running'],
  completed: ['completed'],
  failed: ['failed'],
  canceled: ['canceled'],
  queued: ['queued'],
  running: ['running'],
};

/** `status=completed` or several, comma-separated: `status=failed,canceled`. */
function parseStatus(raw: unknown): TaskState[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  const names = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : [''];
  const bad = names.find((n) => !STATUS_STATES[n]);
  if (bad !== undefined) {
    throw invalid('invalid_status',
      `"status" must be one of processing, completed, failed, canceled (or the stages queued, running), comma-separated for several; got "${bad}".`,
      'status');
  }
  return [...new Set(names.flatMap((n) => STATUS_STATES[n]))];
}

function parseLimit(raw: unknown): number {
  if (raw === undefined) return 20;
  const n = typeof raw === 'string' && /^\s*\d{1,6}\s*$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 100)) throw invalid('invalid_limit', '"limit" must be a whole number from 1 to 100 (default 20).', 'limit');
  return n;
}

function parseCursor(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '') {
    throw invalid('invalid_cursor', 'Pass the "next_cursor" of the previous page as "cursor" unchanged, or leave it out for the first page.', 'cursor');
  }
  return raw;
}

const QUERY_DOCS = {
  type: 'object',
  properties: {
    status: { type: 'string', description: 'processing, completed, failed or canceled (also queued, running); comma-separated for several.' },
    limit: { type: 'string', description: 'Tasks per page, 1-100 (default 20).' },
    cursor: { type: 'string', description: '"next_cursor" of the previous page.' },
  },
} as const;

export async function taskControlRoutes(app: FastifyInstance, deps: AppDeps) {
  // These routes take no body; accept and ignore whatever a client sends (curl -X POST -H 'Content-Type: application/json').
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, _body, done) => done(null, undefined));

  app.get<{ Querystring: Record<string, unknown> }>(
    '/v1/images/tasks',
    // The schema documents the query; our own checks give the errors (see openapi.ts).
    {
      schema: {
        summary: 'List your tasks, newest first', tags: ['tasks'], querystring: QUERY_DOCS,
        response: { 200: ref.taskList('One page of tasks.'), 400: ref.error('Invalid status, limit or cursor.') },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      const page = await deps.tasks.list({
        state: parseStatus(status), limit: parseLimit(limit), cursor: parseCursor(cursor), owner: request.owner,
      });
      const baseUrl = baseUrlOf(request, deps.config);
      const data = await Promise.all(page.tasks.map(async (task) => {
        // A list links images by URL even for b64_json tasks: inlining every image would make pages huge.
        const linked: TaskRecord = { ...task, params: { ...task.params, response_format: 'url' } };
        return presentTask(await deps.tasks.viewOf(linked), baseUrl, deps.storage);
      }));
      return { object: 'list', data, next_cursor: page.nextCursor, has_more: page.nextCursor !== null };
    },
  );

  /**
   * Cancel: a queued task is canceled at once (200). A running one is asked to stop, which its
   * worker does within one denoising step; the answer waits up to CANCEL_WAIT_MS for that (200,
   * "canceled"), else answers 202 with "processing" and "cancel_requested": true.
   */
  const cancel = async (request: TaskRequest, reply: FastifyReply) => {
    const id = request.params.task_id;
    if (!(await visibleRecord(deps, request, id))) return sendTaskNotFound(reply, id);
    return cancelVisible(request, reply, id);
  };
  /** Cancel of a task the caller may see. */
  const cancelVisible = async (request: TaskRequest, reply: FastifyReply, id: string) => {
    let task = await deps.tasks.cancel(id); // 409 when it had already finished
    if (!task) return sendTaskNotFound(reply, id);
    if (task.state === 'running') {
      const life = requestLifetime(reply, deps.closing);
      try {
        task = (await deps.tasks.waitUntilFinal(id, CANCEL_WAIT_MS, life.signal)) ?? task;
      } finally {
        life.done();
      }
    }
    if (task.state === 'completed' || task.state === 'failed') {
      throw new ApiError(409, 'task_finished', `Task ${id} finished (status "${task.state}") before the cancel took effect.`, 'task_id');
    }
    const view: TaskView = await deps.tasks.viewOf(task);
    reply.code(task.state === 'canceled' ? 200 : 202);
    return presentTask(view, baseUrlOf(request, deps.config), deps.storage);
  };
  /**
   * DELETE: a finished task (completed, failed, canceled, or expired) is deleted now with its
   * images and uploads, and then answers 404 like a task that never was. A queued or running
   * one is canceled exactly as by POST .../cancel (all DELETE did before), so clients that
   * DELETE to cancel keep working; a second DELETE then deletes the canceled task.
   */
  const cancelOrDelete = async (request: TaskRequest, reply: FastifyReply) => {
    const id = request.params.task_id;
    const task = await visibleRecord(deps, request, id);
    if (!task) return sendTaskNotFound(reply, id);
    if (!FINAL_STATES.includes(task.state)) return cancelVisible(request, reply, id);
    // False: another request (or retention) removed it since it was read.
    if (!(await deps.tasks.delete(id, request.log))) return sendTaskNotFound(reply, id);
    return { task_id: id, object: 'task.deleted', deleted: true };
  };
  app.post('/v1/images/tasks/:task_id/cancel',
    { schema: { summary: 'Cancel a queued or running task', tags: ['tasks'], response: cancelResponses } }, cancel);
  app.delete('/v1/images/tasks/:task_id', {
    schema: {
      summary: 'Delete a finished task with its images and uploads (a queued or running one is canceled, as POST .../cancel)',
      tags: ['tasks'], response: deleteResponses,
    },
  }, cancelOrDelete);
}

type TaskRequest = FastifyRequest<{ Params: { task_id: string } }>;
