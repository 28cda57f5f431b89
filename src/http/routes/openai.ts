/**
 * OpenAI-compatible synchronous image endpoints, so the official OpenAI SDKs (and tools
 * built on them) work unmodified with `baseURL = <server>/v1`:
 *   POST /v1/images/generations (JSON), POST /v1/images/edits (multipart), GET /v1/models.
 * Each request queues a task exactly like the async endpoints and holds the connection
 * until it is final; every answer after the submit carries the task's id in `x-task-id`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import type { TaskRecord } from '../../interfaces.js';
import { presentImage } from '../../tasks/present.js';
import { EditRequest, GenerateRequest, toTaskParams } from '../../tasks/params.js';
import type { SubmitInput } from '../../tasks/service.js';
import { baseUrlOf, jsonEditBodyLimit, maxUploadBytes, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { editSubmission, submitMeta } from '../imageSubmit.js';
import { readImageForm } from '../multipart.js';
import { ref, submitBody, submitErrors, SubmitHeaders } from '../schemas.js';
import { waitForTask } from '../syncTask.js';
import { modelRoutes } from './models.js';

/**
 * OpenAI's request fields that have no meaning here. They are accepted and ignored, never
 * rejected, so requests written for OpenAI work as they are:
 * - `model`: this server serves one model (GET /v1/models says which).
 * - `quality` (standard/hd/low/medium/high/auto): not mapped to steps. Z-Image Turbo is
 *   distilled for a fixed step count: fewer steps visibly break the image and more add
 *   time without detail, so every quality gets the model's default. Callers who want to
 *   trade quality for speed send our `num_inference_steps`.
 * - `style`, `background`, `moderation`, `input_fidelity`, `user`: no equivalent.
 * - `stream`, `partial_images`: the answer is always one JSON body, never an event stream.
 * `size: "auto"` means our default: 1024x1024 for generations, the input's aspect ratio for edits.
 */
const OPENAI_ONLY = {
  model: Type.Optional(Type.String({ description: 'Accepted and ignored: this server serves one model (see GET /v1/models).' })),
  size: Type.Optional(Type.String({ description: '"WIDTHxHEIGHT", each a multiple of 16 from 256 to 2048 (e.g. "1536x1024"), or "auto".' })),
  quality: Type.Optional(Type.String({ description: 'Accepted and ignored: the model always runs its own step count (set num_inference_steps to change it).' })),
  user: Type.Optional(Type.String({ description: 'Accepted and ignored.' })),
};
const GenerationsBody = submitBody(Type.Object({ ...GenerateRequest.properties, ...OPENAI_ONLY }));
const EditsBody = submitBody(Type.Object({ ...EditRequest.properties, ...OPENAI_ONLY }));

/** OpenAI's ImagesResponse as this server fills it (documentation only: replies are not reshaped by it). */
const ImagesResponse = Type.Object({
  created: Type.Integer({ description: 'Unix seconds when the images were finished.' }),
  data: Type.Array(Type.Object({
    url: Type.Optional(Type.String({ format: 'uri', description: 'Download the image here. Absent with response_format b64_json.' })),
    b64_json: Type.Optional(Type.String({ description: 'The base64-encoded image, with response_format b64_json.' })),
    seed: Type.Integer({ description: 'This image\'s seed: the same request with this seed and n=1 makes it again.' }),
  }, { additionalProperties: true })),
  output_format: Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')]),
  size: Type.String({ description: 'WIDTHxHEIGHT of the images.' }),
}, { additionalProperties: true, description: 'The finished images. Header x-task-id names the task.' });

const responses = {
  200: ImagesResponse,
  ...submitErrors,
  409: ref.error('The task was canceled while the request waited (task_canceled).'),
  500: ref.error('The task failed: error.code and error.message are the task\'s.'),
  503: ref.error('Queue full (Retry-After), the GPU ran out of memory (out_of_memory), or the server is shutting down (shutting_down).'),
  504: ref.error('Not finished within ZIMAGE_SYNC_TIMEOUT_SECONDS (timeout): the task keeps running; poll GET /v1/images/tasks/{x-task-id}.'),
};

/** OpenAI's "auto" size is our default, which toTaskParams (or editSubmission) fills in when size is absent. */
function fromOpenAI(fields: Record<string, unknown>): Record<string, unknown> {
  const out = { ...fields };
  if (out.size === 'auto') delete out.size;
  return out;
}

/** The answer in OpenAI's ImagesResponse shape, plus each image's `seed`. */
async function imagesResponse(task: TaskRecord, baseUrl: string, deps: AppDeps) {
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
    output_format: task.params.output_format,
    size: `${task.params.width}x${task.params.height}`,
  };
}

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
function taskEnded(task: TaskRecord): { error: ApiError; retry: boolean } {
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

/** Queues the task, waits for it, and answers in OpenAI's shapes. */
async function submitAndWait(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, input: SubmitInput, shutdown: AbortSignal) {
  const { task, created } = await deps.tasks.submit(input);
  reply.header('x-task-id', task.id);
  const baseUrl = baseUrlOf(request, deps.config);
  const pollHint = `Poll GET ${baseUrl}/v1/images/tasks/${task.id} until "status" is "completed", then read data[].`;
  const waited = await waitForTask(request, reply, task.id, {
    tasks: deps.tasks, log: request.log, timeoutMs: deps.config.syncTimeoutSeconds * 1000, shutdown,
    cancelOnDisconnect: created && !input.idempotencyKey,
  });
  // A resubmit would queue a duplicate of a task that is still going: never retry these.
  const noRetry = () => reply.header('x-should-retry', 'false');
  switch (waited.outcome) {
    case 'final': {
      if (waited.task.state === 'completed') return imagesResponse(waited.task, baseUrl, deps);
      const { error, retry } = taskEnded(waited.task);
      reply.header('x-should-retry', String(retry));
      return sendError(reply, error);
    }
    case 'timeout':
      noRetry();
      return sendError(reply, new ApiError(504, 'timeout',
        `Task ${task.id} did not finish within ${deps.config.syncTimeoutSeconds} s (ZIMAGE_SYNC_TIMEOUT_SECONDS). It keeps running: ${pollHint}`));
    case 'shutdown':
      noRetry();
      // Otherwise the idle keep-alive connection holds the server's close for its whole timeout.
      reply.header('connection', 'close');
      return sendError(reply, new ApiError(503, 'shutting_down',
        `The server is shutting down. Task ${task.id} is saved in the queue and runs when a worker is back: ${pollHint}`));
    case 'disconnected':
      // Nobody is listening; this answer only completes the request's lifecycle.
      return sendError(reply, new ApiError(499, 'client_closed_request', `The client closed the connection; task ${task.id} was not waited for.`));
  }
}

export async function openaiRoutes(app: FastifyInstance, deps: AppDeps) {

  app.post('/v1/images/generations', {
    schema: {
      summary: 'Generate images and wait for them (OpenAI-compatible)', tags: ['openai'],
      body: GenerationsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const body = request.body;
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? fromOpenAI(body as Record<string, unknown>) : body;
    const params = toTaskParams('generate', fields);
    return submitAndWait(request, reply, deps, { kind: 'generate', params, ...submitMeta(request, body, deps.config) }, deps.closing);
  });

  app.post('/v1/images/edits', {
    bodyLimit: jsonEditBodyLimit(deps.config),
    schema: {
      summary: 'Edit an image and wait for the result (OpenAI-compatible; multipart: image or image[], prompt, optional mask)',
      tags: ['openai'], consumes: ['multipart/form-data'], body: EditsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const form = await readImageForm(request, maxUploadBytes(deps.config));
    const edit = await editSubmission({ ...form, fields: fromOpenAI(form.fields) }, deps.config.maxInputPixels);
    return submitAndWait(request, reply, deps, { ...edit, ...submitMeta(request, form.fields, deps.config) }, deps.closing);
  });

  await app.register(modelRoutes, deps);
}
