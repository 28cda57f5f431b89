import type { FastifyInstance } from 'fastify';
import { presentTask } from '../../tasks/present.js';
import { isFinalView, TaskEventLog, type StreamEvent } from '../../tasks/eventLog.js';
import { closePreviewStore, previewStoreFor } from '../../tasks/previews.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { eventStreamResponses } from '../schemas.js';
import { sendTaskNotFound, visibleTask } from './taskStatus.js';
import { SSE_HEADERS } from '../sse.js';

/** A comment line this often keeps proxies and clients from timing the stream out. */
export const HEARTBEAT_MS = 15_000;

/** Last-Event-ID as a number, or undefined for none or one we cannot have sent. */
function parseLastEventId(raw: unknown): number | undefined {
  return typeof raw === 'string' && /^\d{1,16}$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

const frame = (e: { id: number; type: string }, data: string) => `id: ${e.id}\nevent: ${e.type}\ndata: ${data}\n\n`;

/**
 * GET /v1/images/tasks/{id}/events: Server-Sent Events for one task. Every event's data is
 * the JSON the poll endpoint would answer at that moment; the event name says what happened:
 * `state` (snapshot on connect), `position` (moved up the queue), `started`, `progress`,
 * `requeued`, `cancel_requested`, then one final `completed`, `failed` or `canceled`, after
 * which the stream ends (close the EventSource then, or it reconnects and gets the final event again).
 * While the task runs, `preview` events carry a live preview: the task JSON plus
 * `preview: {step, total_steps, width, height, output_format: "webp", b64_json}` (at most 256 px;
 * not kept: a reconnect gets the latest one after its snapshot, never a replay).
 */
export async function taskEventRoutes(app: FastifyInstance, deps: AppDeps) {
  const previews = previewStoreFor(deps.queue);
  if (previews.created) app.addHook('onClose', async () => closePreviewStore(deps.queue));
  const log = new TaskEventLog({
    subscribe: (listener) => deps.queue.subscribe(listener),
    view: (id) => deps.tasks.view(id),
    // Live tasks carry no image URLs, so the base URL is irrelevant here.
    render: (view) => presentTask(view, '', deps.storage),
    latestPreview: (id) => previews.store.get(id),
  }, {
    ringSize: 32, maxChannels: 10_000, idleMs: 10 * 60_000,
    // In a fleet events cross Redis and may be missed; embedded they are in-process.
    recheckMs: deps.queue.name === 'sqlite' ? undefined : 1000,
    onError: (err) => deps.log.warn({ err }, 'task event stream failed; clients will reconnect'),
  });
  const open = new Set<() => void>();
  // Open streams would hold up server.close() forever: end them when closing starts.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
    log.close();
  });

  app.get<{ Params: { task_id: string } }>(
    '/v1/images/tasks/:task_id/events',
    {
      exposeHeadRoute: false,
      schema: {
        summary: 'Stream a task\'s progress as Server-Sent Events (queue position, steps, ETA, final result)',
        tags: ['tasks'],
        produces: ['text/event-stream'],
        response: eventStreamResponses,
      },
    },
    async (request, reply) => {
      const id = request.params.task_id;
      const view = await visibleTask(deps, request, id);
      if (!view) return sendTaskNotFound(reply, id);
      const baseUrl = baseUrlOf(request, deps.config);
      const lastEventId = parseLastEventId(request.headers['last-event-id']);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, SSE_HEADERS);
      res.write('retry: 2000\n\n');

      let ended = false;
      let detach = () => {};
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        detach();
        open.delete(end);
        res.end();
      };
      open.add(end);
      res.on('close', end);
      res.on('error', end);

      // Writes go through one chain: a final event renders (and may read images) before it is written.
      let writes = Promise.resolve();
      const send = (e: StreamEvent) => {
        writes = writes.then(async () => {
          if (ended) return;
          res.write(frame(e, e.final ? JSON.stringify(await presentTask(e.view, baseUrl, deps.storage)) : e.data));
          if (e.final) end();
        }).catch((err) => {
          deps.log.warn({ err, task: id }, 'could not write a task event');
          end();
        });
      };
      if (isFinalView(view)) send({ id: log.nextId(), type: view.task.state, final: true, view });
      else detach = log.watch(id, lastEventId, { send, end: () => { writes = writes.then(end); } });
    },
  );
}
