/**
 * The part of an edit submission every edit endpoint shares (the async `/v1/images/async_edit`
 * and the OpenAI-compatible `/v1/images/edits`): the uploads are checked before a task
 * exists, so a bad file is a 400 now instead of a failed task later, and an edit without
 * a size takes one from its input.
 */
import { invalid } from '../errors.js';
import { inspectImage } from '../images/decode.js';
import { SIZE_MAX, SIZE_MIN, toTaskParams } from '../tasks/params.js';
import type { SubmitInput } from '../tasks/service.js';
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
  return {
    kind: 'edit',
    params: toTaskParams('edit', fields),
    image: { data: form.image, contentType: MIME[info.format] },
    mask: form.mask && maskInfo ? { data: form.mask, contentType: MIME[maskInfo.format] } : undefined,
  };
}
