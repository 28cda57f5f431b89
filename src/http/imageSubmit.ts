/**
 * What every submit endpoint shares (the async contract and the OpenAI-compatible ones):
 * the submit options (idempotency key, webhook, caller) and, for edits, the upload checks.
 * Uploads are checked before a task exists, so a bad file is a 400 now instead of a failed
 * task later, and an edit without a size takes one from its input.
 */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { invalid } from '../errors.js';
import { inspectImage } from '../images/decode.js';
import { SIZE_MAX, SIZE_MIN, toTaskParams } from '../tasks/params.js';
import type { SubmitInput } from '../tasks/service.js';
import { refusedLiteral } from '../webhooks/addressPolicy.js';
import { baseUrlOf } from './context.js';
import type { ImageForm } from './multipart.js';

const MIME = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

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
 * Validates an edit form (image, optional mask, text fields) into what TaskService.submit
 * needs besides the submit options. A missing, empty or "auto" size becomes sizeForInput.
 * Throws ApiError 400 for a missing or unreadable image or invalid fields.
 */
export async function editSubmission(form: ImageForm, maxPixels: number): Promise<Pick<SubmitInput, 'kind' | 'params' | 'image' | 'mask'>> {
  if (!form.image) {
    throw invalid('missing_image', 'An edit needs the picture to change: send it as a file in the `image` form field (PNG, JPEG or WebP).', 'image');
  }
  const info = await inspectImage(form.image, { maxPixels, param: 'image' });
  const maskInfo = form.mask ? await inspectImage(form.mask, { maxPixels, param: 'mask' }) : undefined;
  const fields: Record<string, unknown> = { ...form.fields };
  if (fields.size === undefined || fields.size === '' || fields.size === 'auto') fields.size = sizeForInput(info.width, info.height);
  const params = toTaskParams('edit', fields);
  // A masked edit repaints the masked area from scratch unless the caller says otherwise.
  if (form.mask && (fields.strength === undefined || fields.strength === null || fields.strength === '')) params.strength = 1;
  return {
    kind: 'edit',
    params,
    image: { data: form.image, contentType: MIME[info.format] },
    mask: form.mask && maskInfo ? { data: form.mask, contentType: MIME[maskInfo.format] } : undefined,
  };
}

/**
 * Submit options beside the image parameters: the Idempotency-Key header and the
 * `webhook_url` body field, and the caller. Shared by every submit endpoint. A literal private
 * webhook address is refused here (not only at delivery), and the request's base URL is kept
 * for the image links of the webhook body.
 */
export function submitMeta(request: FastifyRequest, body: unknown, config: Config) {
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
    webhookBaseUrl: webhookUrl ? baseUrlOf(request, config) : null,
  };
}

const MAX_WEBHOOK_URL = 2048;

/**
 * Only http(s) URLs are accepted as webhook targets, and (unless ZIMAGE_WEBHOOK_ALLOW_PRIVATE)
 * no literal loopback/private/link-local IP. Host names are checked when the webhook is sent
 * (src/webhooks/addressPolicy.ts), since what they resolve to can change.
 */
export function checkWebhookUrl(raw: unknown, config: Pick<Config, 'webhookAllowPrivate'>): string {
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
  const refused = refusedLiteral(url, config.webhookAllowPrivate);
  if (refused) throw invalid('invalid_webhook_url', refused, 'webhook_url');
  return url.toString();
}
