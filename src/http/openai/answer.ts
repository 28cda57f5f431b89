/** The JSON answer: the task waited for, then OpenAI's ImagesResponse or an OpenAI error. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import type { TaskRecord } from '../../interfaces.js';
import { presentImage } from '../../tasks/present.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { waitForTask } from '../syncTask.js';
import { taskEnded, waitError } from './failure.js';
import type { OpenAIOptions, Submission } from './request.js';

/** OpenAI's `usage`: nothing is counted in tokens here. */
export const NO_USAGE = { input_tokens: 0, input_tokens_details: { image_tokens: 0, text_tokens: 0 }, output_tokens: 0, total_tokens: 0 };

/** The answer in OpenAI's ImagesResponse shape, plus each image's `seed`. */
async function imagesResponse(task: TaskRecord, baseUrl: string, deps: AppDeps, options: OpenAIOptions) {
  const outputs = task.result?.outputs ?? [];
  const data = await Promise.all(outputs.map(async (out) => {
    const image = await presentImage(task, out, baseUrl, deps.storage);
    if ('url' in image) return { url: image.url, seed: image.seed };
    if (image.b64_json === null) {
      throw new ApiError(500, 'output_missing', `Image ${out.file} of task ${task.id} is missing from storage. Submit the request again.`);
    }
    return { b64_json: image.b64_json, seed: image.seed };
  }));
  return {
    created: Math.floor((task.finishedAt ?? Date.now()) / 1000),
    data,
    background: 'opaque',
    output_format: task.params.output_format,
    quality: options.quality,
    size: `${task.params.width}x${task.params.height}`,
    usage: NO_USAGE,
  };
}

/** Queues the task, waits for it, and answers in OpenAI's shapes. */
export async function submitAndWait(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, { input, options }: Submission) {
  const { task, created } = await deps.tasks.submit(input);
  reply.header('x-task-id', task.id);
  const baseUrl = baseUrlOf(request, deps.config);
  const waited = await waitForTask(request, reply, task.id, {
    tasks: deps.tasks, log: request.log, timeoutMs: deps.config.syncTimeoutSeconds * 1000, shutdown: deps.closing,
    cancelOnDisconnect: created && !input.idempotencyKey,
  });
  if (waited.outcome === 'final') {
    if (waited.task.state === 'completed') return imagesResponse(waited.task, baseUrl, deps, options);
    const { error, retry } = taskEnded(waited.task);
    reply.header('x-should-retry', String(retry));
    return sendError(reply, error);
  }
  // A resubmit would queue a duplicate of a task that is still going: never retry these.
  reply.header('x-should-retry', 'false');
  // Otherwise the idle keep-alive connection holds the server's close for its whole timeout.
  if (waited.outcome === 'shutdown') reply.header('connection', 'close');
  // 'disconnected': nobody is listening; the answer only completes the request's lifecycle.
  return sendError(reply, waitError(waited, task.id, baseUrl, deps));
}
