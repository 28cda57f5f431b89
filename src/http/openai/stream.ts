/** The streamed answer (`stream: true`): Server-Sent Events in OpenAI's image-streaming format. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import type { OutputFormat, TaskPreview, TaskRecord } from '../../interfaces.js';
import { transcodePreview } from '../../images/preview.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { errorBody } from '../errors.js';
import { HEARTBEAT_MS } from '../routes/taskEvents.js';
import { SSE_HEADERS } from '../sse.js';
import { waitForTask } from '../syncTask.js';
import { NO_USAGE } from './answer.js';
import { taskEnded, waitError } from './failure.js';
import type { Submission } from './request.js';

/** One output image as base64, or a 500 when its file is gone. */
async function imageBase64(task: TaskRecord, index: number, deps: AppDeps): Promise<string> {
  const out = task.result!.outputs[index];
  const obj = await deps.storage.get(out.file);
  if (!obj) throw new ApiError(500, 'output_missing', `Image ${out.file} of task ${task.id} is missing from storage. Submit the request again.`);
  return obj.data.toString('base64');
}

/**
 * Which previews become partial images: the first to reach each of `count` evenly spaced
 * points of the run (with 2: a third and two thirds of the steps), one partial image each.
 */
export function partialPicker(count: number): (preview: TaskPreview) => number | undefined {
  let sent = 0;
  return (preview) => {
    if (sent >= count || preview.total <= 0) return undefined;
    if (preview.step / preview.total + 1e-9 < (sent + 1) / (count + 1)) return undefined;
    return sent++;
  };
}

/**
 * `stream: true`: the task as Server-Sent Events in OpenAI's image-streaming format. Errors
 * before the task is queued are ordinary JSON answers (the SDKs raise them as usual); from then
 * on a failure is an `error` event, and the stream always ends properly. A disconnect is
 * treated as for the synchronous answer: a task this request alone owns is canceled while queued.
 */
export async function submitAndStream(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, { kind, input, options }: Submission) {
  const { task, created } = await deps.tasks.submit(input);
  const baseUrl = baseUrlOf(request, deps.config);
  const prefix = kind === 'generate' ? 'image_generation' : 'image_edit';
  const params = task.params;
  const common = () => ({
    created_at: Math.floor(Date.now() / 1000),
    size: `${params.width}x${params.height}`,
    quality: options.quality,
    background: 'opaque',
    output_format: params.output_format,
  });

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...SSE_HEADERS, 'x-task-id': task.id });
  // Now, not with the first event: the client learns the task id (and that it is queued) at once.
  res.flushHeaders();
  const write = (event: string, data: unknown) => {
    if (!res.destroyed && !res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const heartbeat = setInterval(() => { if (!res.destroyed) res.write(': keep-alive\n\n'); }, HEARTBEAT_MS);

  // Partial images: previews of this task, re-encoded in the requested format, written in order.
  let partials = Promise.resolve();
  const pick = partialPicker(options.partialImages);
  const unsubscribe = options.partialImages > 0
    ? deps.queue.subscribe((e) => {
      if (e.taskId !== task.id || e.type !== 'preview' || !e.preview) return;
      const index = pick(e.preview);
      if (index === undefined) return;
      const preview = e.preview;
      partials = partials.then(async () => {
        const data = await transcodePreview(preview.data, params.output_format as OutputFormat, params.output_compression);
        write(`${prefix}.partial_image`, { type: `${prefix}.partial_image`, b64_json: data.toString('base64'), partial_image_index: index, ...common() });
      }).catch((err) => request.log.warn({ err, task: task.id }, 'could not send a partial image'));
    })
    : () => {};

  try {
    const waited = await waitForTask(request, reply, task.id, {
      tasks: deps.tasks, log: request.log, timeoutMs: deps.config.syncTimeoutSeconds * 1000, shutdown: deps.closing,
      cancelOnDisconnect: created && !input.idempotencyKey,
    });
    unsubscribe();
    await partials;
    if (waited.outcome === 'final' && waited.task.state === 'completed') {
      const done = waited.task;
      // One completed event per image (n > 1 sends several), each with the image's seed beside OpenAI's fields.
      for (let i = 0; i < (done.result?.outputs.length ?? 0); i++) {
        const b64 = await imageBase64(done, i, deps);
        write(`${prefix}.completed`, {
          type: `${prefix}.completed`, b64_json: b64, ...common(), usage: NO_USAGE, seed: done.result!.outputs[i].seed,
        });
      }
    } else if (waited.outcome !== 'disconnected') {
      const error = waited.outcome === 'final' ? taskEnded(waited.task).error : waitError(waited, task.id, baseUrl, deps);
      write('error', { type: 'error', ...errorBody(error) });
    }
  } catch (err) {
    request.log.error({ err, task: task.id }, 'image stream failed');
    const error = err instanceof ApiError ? err : new ApiError(500, 'internal_error', 'The server hit an unexpected error while streaming. It has been logged; the task can be polled.');
    write('error', { type: 'error', ...errorBody(error) });
  } finally {
    unsubscribe();
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
  }
}
