import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { invalid } from '../../errors.js';
import type { TaskRecord } from '../../interfaces.js';
import { EditRequest, GenerateRequest, toTaskParams } from '../../tasks/params.js';
import { refusedLiteral } from '../../webhooks/addressPolicy.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { editSubmission } from '../imageSubmit.js';
import { parseLenientJson } from '../lenientJson.js';
import { readImageForm } from '../multipart.js';
import { ref, submitBody, submitErrors, SubmitHeaders } from '../schemas.js';

/** The submit answer of the skill contract, with a hint on how to poll. */
export function accepted(task: TaskRecord) {
  return {
    task_id: task.id,
    status: 'processing' as const,
    message: `Task queued. Poll GET /v1/images/tasks/${task.id} every few seconds until "status" is "completed", then read data[].url.`,
  };
}

/** Moved to the shared edit helper; re-exported for existing importers. */
export { sizeForInput } from '../imageSubmit.js';

/**
 * Submit options beside the image parameters: the Idempotency-Key header and the
 * `webhook_url` body field. Shared by every submit endpoint. Pass the server's config: with it
 * a literal private webhook address is refused here (not only at delivery), and the request's
 * base URL is kept for the image links of the webhook body.
 */
export function submitMeta(request: FastifyRequest, body: unknown, config?: Config) {
  const key = request.headers['idempotency-key'];
  if (typeof key === 'string' && key.length > 255) {
    throw invalid('invalid_idempotency_key', 'The Idempotency-Key header must be at most 255 characters.', 'Idempotency-Key');
  }
  const raw = (body as Record<string, unknown> | undefined)?.webhook_url;
  const webhookUrl = raw === undefined || raw === null || raw === '' ? null : checkWebhookUrl(raw, config);
  return {
    idempotencyKey: typeof key === 'string' && key ? key : null,
    owner: request.owner,
    webhookUrl,
    webhookBaseUrl: webhookUrl && config ? baseUrlOf(request, config) : null,
  };
}

const MAX_WEBHOOK_URL = 2048;

/**
 * Only http(s) URLs are accepted as webhook targets, and (unless ZIMAGE_WEBHOOK_ALLOW_PRIVATE)
 * no literal loopback/private/link-local IP. Host names are checked when the webhook is sent
 * (src/webhooks/addressPolicy.ts), since what they resolve to can change.
 */
export function checkWebhookUrl(raw: unknown, config?: Pick<Config, 'webhookAllowPrivate'>): string {
  let url: URL | undefined;
  try {
    url = typeof raw === 'string' ? new URL(raw) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw invalid('invalid_webhook_url', '"webhook_url" must be an absolute http(s) URL that will receive the finished task.', 'webhook_url');
  }
  if (url.toString().length > MAX_WEBHOOK_URL) {
    throw invalid('invalid_webhook_url', `"webhook_url" is longer than ${MAX_WEBHOOK_URL} characters; use a shorter URL.`, 'webhook_url');
  }
  const refused = config ? refusedLiteral(url, config.webhookAllowPrivate) : null;
  if (refused) throw invalid('invalid_webhook_url', refused, 'webhook_url');
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
    schema: {
      summary: 'Queue an image generation task', tags: ['async'], body: submitBody(GenerateRequest), headers: SubmitHeaders,
      response: { 200: ref.submit('Queued: poll GET /v1/images/tasks/{task_id}.'), ...submitErrors },
    },
  }, async (request) => {
    const params = toTaskParams('generate', request.body);
    const { task } = await deps.tasks.submit({ kind: 'generate', params, ...submitMeta(request, request.body, deps.config) });
    return accepted(task);
  });

  app.post('/v1/images/async_edit', {
    attachValidation: true,
    schema: {
      summary: 'Queue an image edit task (multipart: image + prompt)', tags: ['async'], consumes: ['multipart/form-data'],
      body: submitBody(EditRequest), headers: SubmitHeaders,
      response: { 200: ref.submit('Queued: poll GET /v1/images/tasks/{task_id}.'), ...submitErrors },
    },
  }, async (request) => {
    const form = await readImageForm(request);
    const edit = await editSubmission(form, deps.config.maxInputPixels);
    const { task } = await deps.tasks.submit({ ...edit, ...submitMeta(request, form.fields, deps.config) });
    return accepted(task);
  });
}
