import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../../errors.js';
import { inspectImage } from '../../images/decode.js';
import type { TaskRecord } from '../../interfaces.js';
import { EditRequest, GenerateRequest, SIZE_MAX, SIZE_MIN, toTaskParams } from '../../tasks/params.js';
import type { AppDeps } from '../context.js';
import { parseLenientJson } from '../lenientJson.js';
import { readImageForm } from '../multipart.js';

const MIME = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

/** The submit answer of the skill contract, with a hint on how to poll. */
export function accepted(task: TaskRecord) {
  return {
    task_id: task.id,
    status: 'processing' as const,
    message: `Task queued. Poll GET /v1/images/tasks/${task.id} every few seconds until "status" is "completed", then read data[].url.`,
  };
}

/**
 * An edit without an explicit size keeps the input's aspect ratio at about one megapixel
 * (where the model works best; small inputs are scaled up), in multiples of 16.
 */
export function sizeForInput(width: number, height: number): string {
  const scale = Math.sqrt((1024 * 1024) / (width * height));
  const fit = (v: number) => Math.min(SIZE_MAX, Math.max(SIZE_MIN, Math.round((v * scale) / 16) * 16));
  return `${fit(width)}x${fit(height)}`;
}

/**
 * Submit options beside the image parameters: the Idempotency-Key header and the
 * `webhook_url` body field. Shared by every submit endpoint.
 */
export function submitMeta(request: FastifyRequest, body: unknown) {
  const key = request.headers['idempotency-key'];
  if (typeof key === 'string' && key.length > 255) {
    throw invalid('invalid_idempotency_key', 'The Idempotency-Key header must be at most 255 characters.', 'Idempotency-Key');
  }
  const raw = (body as Record<string, unknown> | undefined)?.webhook_url;
  return {
    idempotencyKey: typeof key === 'string' && key ? key : null,
    webhookUrl: raw === undefined || raw === null || raw === '' ? null : checkWebhookUrl(raw),
  };
}

/** Only http(s) URLs are accepted as webhook targets. */
export function checkWebhookUrl(raw: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof raw === 'string' ? new URL(raw) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw invalid('invalid_webhook_url', '"webhook_url" must be an absolute http(s) URL that will receive the finished task.', 'webhook_url');
  }
  return url.toString();
}

export async function asyncTaskRoutes(app: FastifyInstance, deps: AppDeps) {
  // LLM agents send Python literals, single quotes and trailing commas: accept them here.
  // text/plain is refused with 415 rather than half-parsed: the skill document says JSON.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = body.toString();
    if (!text.trim()) return done(invalid('invalid_json', 'The request body is empty. Send a JSON object, e.g. {"prompt": "a cat"}.'), undefined);
    try {
      done(null, parseLenientJson(text));
    } catch (err) {
      done(invalid('invalid_json', `The request body is not valid JSON (${(err as Error).message}). Send a JSON object, e.g. {"prompt": "a cat"}.`), undefined);
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: 'string' }, parseJson);

  app.post('/v1/images/async_generate', {
    attachValidation: true,
    schema: { summary: 'Queue an image generation task', tags: ['async'], body: GenerateRequest },
  }, async (request) => {
    const params = toTaskParams('generate', request.body);
    const { task } = await deps.tasks.submit({ kind: 'generate', params, ...submitMeta(request, request.body) });
    return accepted(task);
  });

  app.post('/v1/images/async_edit', {
    attachValidation: true,
    schema: { summary: 'Queue an image edit task (multipart: image + prompt)', tags: ['async'], consumes: ['multipart/form-data'], body: EditRequest },
  }, async (request) => {
    const form = await readImageForm(request);
    if (!form.image) {
      throw invalid('missing_image', 'An edit needs the picture to change: send it as a file in the `image` form field (PNG, JPEG or WebP).', 'image');
    }
    const maxPixels = deps.config.maxInputPixels;
    const info = await inspectImage(form.image, { maxPixels, param: 'image' });
    const maskInfo = form.mask ? await inspectImage(form.mask, { maxPixels, param: 'mask' }) : undefined;
    const fields: Record<string, unknown> = { ...form.fields };
    if (fields.size === undefined || fields.size === '' || fields.size === 'auto') fields.size = sizeForInput(info.width, info.height);
    const params = toTaskParams('edit', fields);
    const { task } = await deps.tasks.submit({
      kind: 'edit', params, ...submitMeta(request, form.fields),
      image: { data: form.image, contentType: MIME[info.format] },
      mask: form.mask && maskInfo ? { data: form.mask, contentType: MIME[maskInfo.format] } : undefined,
    });
    return accepted(task);
  });
}
