/**
 * OpenAI-compatible image endpoints, so the official OpenAI SDKs (and tools built on them)
 * work unmodified with `baseURL = <server>/v1`:
 *   POST /v1/images/generations (JSON), POST /v1/images/edits (multipart), GET /v1/models,
 *   POST /v1/images/variations (a clear 400: see below).
 * Each request queues a task exactly like the async endpoints and holds the connection
 * until it is final; every answer after the submit carries the task's id in `x-task-id`.
 * With `stream: true` the answer is Server-Sent Events in OpenAI's image-streaming format:
 * `partial_images` (0-3) `*.partial_image` events made from the task's live previews, then
 * one `*.completed` event per image, or an `error` event.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../../errors.js';
import type { OutputFormat, TaskKind, TaskPreview, TaskRecord } from '../../interfaces.js';
import { modelDefaults } from '../../engines/diffusers/options.js';
import { transcodePreview } from '../../images/preview.js';
import { presentImage } from '../../tasks/present.js';
import { EditRequest, GenerateRequest, toTaskParams } from '../../tasks/params.js';
import type { SubmitInput } from '../../tasks/service.js';
import { baseUrlOf, jsonEditBodyLimit, maxUploadBytes, type AppDeps } from '../context.js';
import { errorBody, sendError } from '../errors.js';
import { editSubmission, submitMeta } from '../imageSubmit.js';
import { readImageForm } from '../multipart.js';
import { ref, submitBody, submitErrors, SubmitHeaders } from '../schemas.js';
import { waitForTask, type WaitOutcome } from '../syncTask.js';
import { modelRoutes } from './models.js';
import { HEARTBEAT_MS } from './taskEvents.js';
import { SSE_HEADERS } from '../sse.js';

/**
 * How OpenAI's request fields are read (anything else is validated as for the async routes):
 * - `response_format`: `b64_json` unless `"url"` is asked for, like current OpenAI image models
 *   (the async routes keep `url`, as the skill contract says).
 * - `quality`: a share of the model's default denoising steps: `low` half (Turbo: 4 of 8),
 *   `medium` three quarters (Turbo: 6), `high` and `auto` all of them (Turbo: 8); DALL·E's
 *   `standard` is `auto`, `hd` is `high`. An explicit `num_inference_steps` wins.
 * - `background`: `auto` and `opaque` are what the model makes; `transparent` is a 400 (it
 *   cannot make transparent images), never an opaque image answered as if it were.
 * - `stream`, `partial_images` (0-3, only with stream): see above. Partial images are the
 *   task's live previews (every ZIMAGE_PREVIEW_EVERY steps, at most 256 px), in the requested
 *   output_format; as with OpenAI, fewer may arrive when the image is done first (none with
 *   ZIMAGE_PREVIEW_EVERY=0).
 * - `model`, `style`, `moderation`, `input_fidelity`, `user`: accepted and ignored (one model
 *   is served; the rest has no equivalent and changes nothing the engine could honour).
 * `size: "auto"` means our default: 1024x1024 for generations, the input's aspect ratio for edits.
 * One input image per edit: several (OpenAI's multi-image edits) are a 400.
 */
const QUALITY_SHARE: Record<string, number> = { low: 0.5, medium: 0.75, high: 1, auto: 1, standard: 1, hd: 1 };
const QUALITY_NAME: Record<string, 'low' | 'medium' | 'high' | 'auto'> = {
  low: 'low', medium: 'medium', high: 'high', auto: 'auto', standard: 'auto', hd: 'high',
};
export const MAX_PARTIAL_IMAGES = 3;

const OPENAI_ONLY = {
  model: Type.Optional(Type.String({ description: 'Accepted and ignored: this server serves one model (see GET /v1/models).' })),
  size: Type.Optional(Type.String({ description: '"WIDTHxHEIGHT", each a multiple of 16 from 256 to 2048 (e.g. "1536x1024"), or "auto".' })),
  quality: Type.Optional(Type.String({
    enum: Object.keys(QUALITY_SHARE),
    description: 'Denoising steps as a share of the model\'s default: low 1/2 (Turbo: 4), medium 3/4 (Turbo: 6), high and auto all (Turbo: 8); standard = auto, hd = high. num_inference_steps wins.',
  })),
  background: Type.Optional(Type.String({ enum: ['auto', 'opaque', 'transparent'], description: 'auto or opaque; transparent is refused (400): the model makes opaque images only.' })),
  stream: Type.Optional(Type.Boolean({ description: 'Answer with Server-Sent Events in OpenAI\'s format (partial images, then the completed image).' })),
  partial_images: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PARTIAL_IMAGES, description: 'With stream: how many partial images (live previews, at most 256 px) to send before the final one, 0-3.' })),
  user: Type.Optional(Type.String({ description: 'Accepted and ignored.' })),
};
const openaiResponseFormat = Type.Optional(Type.Union([Type.Literal('url'), Type.Literal('b64_json')], {
  default: 'b64_json', description: 'b64_json (the default here, as for current OpenAI image models) or url.',
}));
const GenerationsBody = submitBody(Type.Object({ ...GenerateRequest.properties, ...OPENAI_ONLY, response_format: openaiResponseFormat }));
const EditsBody = submitBody(Type.Object({ ...EditRequest.properties, ...OPENAI_ONLY, response_format: openaiResponseFormat }));

/** OpenAI's ImagesResponse as this server fills it (documentation only: replies are not reshaped by it). */
const ImagesResponse = Type.Object({
  created: Type.Integer({ description: 'Unix seconds when the images were finished.' }),
  data: Type.Array(Type.Object({
    url: Type.Optional(Type.String({ format: 'uri', description: 'Download the image here. Only with response_format url.' })),
    b64_json: Type.Optional(Type.String({ description: 'The base64-encoded image (the default).' })),
    seed: Type.Integer({ description: 'This image\'s seed: the same request with this seed and n=1 makes it again.' }),
  }, { additionalProperties: true })),
  output_format: Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')]),
  size: Type.String({ description: 'WIDTHxHEIGHT of the images.' }),
  quality: Type.String({ description: 'The quality asked for (low, medium, high or auto).' }),
  background: Type.Literal('opaque'),
  usage: Type.Object({}, { additionalProperties: true, description: 'OpenAI\'s token usage: all zero here (nothing is counted in tokens).' }),
}, {
  additionalProperties: true,
  description: 'The finished images (header x-task-id names the task). With stream: true, Server-Sent Events instead: ' +
    'image_generation.partial_image / image_edit.partial_image (b64_json, partial_image_index), then image_generation.completed / ' +
    'image_edit.completed (b64_json, usage) per image, or one error event.',
});

const responses = {
  200: ImagesResponse,
  ...submitErrors,
  409: ref.error('The task was canceled while the request waited (task_canceled).'),
  500: ref.error('The task failed: error.code and error.message are the task\'s.'),
  503: ref.error('Queue full (Retry-After), the GPU ran out of memory (out_of_memory), or the server is shutting down (shutting_down).'),
  504: ref.error('Not finished within ZIMAGE_SYNC_TIMEOUT_SECONDS (timeout): the task keeps running; poll GET /v1/images/tasks/{x-task-id}.'),
};

/** What the OpenAI fields asked for, beside the task parameters. */
interface OpenAIOptions {
  stream: boolean;
  partialImages: number;
  quality: 'low' | 'medium' | 'high' | 'auto';
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/** A JSON boolean, or a form field's "true"/"false". */
function parseBool(value: unknown, param: string): boolean {
  if (!present(value)) return false;
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw invalid(`invalid_${param}`, `"${param}" must be true or false.`, param);
}

/**
 * Reads and removes the OpenAI-only fields (quality, background, stream, partial_images), and
 * applies their meaning to the task fields: the b64_json default, quality as steps.
 * Throws a 400 for what the engine cannot do or what is not a valid value.
 */
function fromOpenAI(raw: Record<string, unknown>, defaultSteps: number): { fields: Record<string, unknown>; options: OpenAIOptions } {
  const fields = { ...raw };
  if (fields.size === 'auto') delete fields.size;
  if (!present(fields.response_format)) fields.response_format = 'b64_json';

  const background = fields.background;
  delete fields.background;
  if (present(background)) {
    if (background === 'transparent') {
      throw invalid('unsupported_background',
        '"background": "transparent" is not supported: this model makes opaque images only. Send "opaque" or "auto" (or leave it out), ' +
        'and cut the subject out afterwards if you need transparency.', 'background');
    }
    if (background !== 'auto' && background !== 'opaque') {
      throw invalid('invalid_background', '"background" must be "auto" or "opaque" ("transparent" is not supported here).', 'background');
    }
  }

  const quality = fields.quality;
  delete fields.quality;
  let qualityName: OpenAIOptions['quality'] = 'auto';
  if (present(quality)) {
    const key = typeof quality === 'string' ? quality.toLowerCase() : '';
    if (!(key in QUALITY_SHARE)) {
      throw invalid('invalid_quality', `"quality" must be one of ${Object.keys(QUALITY_SHARE).map((q) => `"${q}"`).join(', ')}.`, 'quality');
    }
    qualityName = QUALITY_NAME[key];
    // An explicit step count wins over quality.
    if (QUALITY_SHARE[key] < 1 && !present(fields.num_inference_steps)) {
      fields.num_inference_steps = Math.max(1, Math.round(defaultSteps * QUALITY_SHARE[key]));
    }
  }

  const stream = parseBool(fields.stream, 'stream');
  delete fields.stream;
  const rawPartials = fields.partial_images;
  delete fields.partial_images;
  let partialImages = 0;
  if (present(rawPartials)) {
    const n = typeof rawPartials === 'number' ? rawPartials : typeof rawPartials === 'string' && /^\s*\d+\s*$/.test(rawPartials) ? Number(rawPartials) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > MAX_PARTIAL_IMAGES) {
      throw invalid('invalid_partial_images', `"partial_images" must be an integer from 0 to ${MAX_PARTIAL_IMAGES}.`, 'partial_images');
    }
    partialImages = n;
  }
  return { fields, options: { stream, partialImages, quality: qualityName } };
}

/** The steps a task of this kind runs by default here: this process's engine, else the live workers', else the model's. */
async function defaultStepsFor(deps: AppDeps, kind: TaskKind): Promise<number> {
  if (deps.engine) return deps.engine.defaultSteps(kind);
  const counts = new Map<number, number>();
  for (const w of await deps.workers.live()) counts.set(w.defaultSteps[kind], (counts.get(w.defaultSteps[kind]) ?? 0) + 1);
  let best: number | undefined;
  for (const [steps, n] of counts) if (best === undefined || n > counts.get(best)!) best = steps;
  if (best !== undefined) return best;
  if (deps.config.engine === 'synthetic') return 8;
  return modelDefaults(deps.config.model, deps.config.modelVariant as 'auto' | 'turbo' | 'base').steps;
}

/** OpenAI's `usage`: nothing is counted in tokens here. */
const NO_USAGE = { input_tokens: 0, input_tokens_details: { image_tokens: 0, text_tokens: 0 }, output_tokens: 0, total_tokens: 0 };

/** One output image as base64, or a 500 when its file is gone. */
async function imageBase64(task: TaskRecord, index: number, deps: AppDeps): Promise<string> {
  const out = task.result!.outputs[index];
  const obj = await deps.storage.get(out.file);
  if (!obj) throw new ApiError(500, 'output_missing', `Image ${out.file} of task ${task.id} is missing from storage. Submit the request again.`);
  return obj.data.toString('base64');
}

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

/** Why a wait ended without images (not for 'final'), as the error the client gets. */
function waitError(waited: Exclude<WaitOutcome, { outcome: 'final' }>, taskId: string, baseUrl: string, deps: AppDeps): ApiError {
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

interface Submission {
  kind: TaskKind;
  input: SubmitInput;
  options: OpenAIOptions;
}

/** Queues the task, waits for it, and answers in OpenAI's shapes. */
async function submitAndWait(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, { input, options }: Submission) {
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
async function submitAndStream(request: FastifyRequest, reply: FastifyReply, deps: AppDeps, { kind, input, options }: Submission) {
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

const answer = (request: FastifyRequest, reply: FastifyReply, deps: AppDeps, submission: Submission) =>
  (submission.options.stream ? submitAndStream : submitAndWait)(request, reply, deps, submission);

export async function openaiRoutes(app: FastifyInstance, deps: AppDeps) {

  app.post('/v1/images/generations', {
    schema: {
      summary: 'Generate images and wait for them, or stream them (OpenAI-compatible)', tags: ['openai'],
      body: GenerationsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return toTaskParams('generate', body); // throws the usual 400
    const { fields, options } = fromOpenAI(body as Record<string, unknown>, await defaultStepsFor(deps, 'generate'));
    const params = toTaskParams('generate', fields);
    const input: SubmitInput = { kind: 'generate', params, ...submitMeta(request, body, deps.config) };
    return answer(request, reply, deps, { kind: 'generate', input, options });
  });

  app.post('/v1/images/edits', {
    bodyLimit: jsonEditBodyLimit(deps.config),
    schema: {
      summary: 'Edit an image and wait for the result, or stream it (OpenAI-compatible; multipart: image or image[], prompt, optional mask)',
      tags: ['openai'], consumes: ['multipart/form-data'], body: EditsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const form = await readImageForm(request, maxUploadBytes(deps.config));
    const { fields, options } = fromOpenAI(form.fields, await defaultStepsFor(deps, 'edit'));
    const edit = await editSubmission({ ...form, fields }, deps.config.maxInputPixels);
    const input: SubmitInput = { ...edit, ...submitMeta(request, form.fields, deps.config) };
    return answer(request, reply, deps, { kind: 'edit', input, options });
  });

  /**
   * OpenAI's variations (a DALL·E 2 endpoint) have no faithful equivalent: a variation without a
   * prompt would be an unguided re-noising of the picture. A clear 400 says what to do instead.
   */
  app.post('/v1/images/variations', {
    schema: {
      summary: 'Not supported: make variations with POST /v1/images/edits and a prompt (answers 400 unsupported_endpoint)', tags: ['openai'],
      consumes: ['multipart/form-data'],
      response: { 400: ref.error('Always: variations are made as edits here.') },
    },
  }, async (request, reply) => {
    // Read the upload to its end, so the client gets the answer rather than a reset connection.
    if (request.isMultipart()) {
      try {
        for await (const part of request.parts()) if (part.type === 'file') await part.toBuffer();
      } catch {
        // a broken or oversized form changes nothing: the answer is the same
      }
    }
    return sendError(reply, new ApiError(400, 'unsupported_endpoint',
      'Image variations are not supported by this server. Make one as an edit: POST /v1/images/edits with the image and a prompt ' +
      'that describes it (a lower "strength", e.g. 0.4, stays closer to the original).', null));
  });

  await app.register(modelRoutes, deps);
}
