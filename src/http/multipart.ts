import type { FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../errors.js';

export interface ImageForm {
  fields: Record<string, string>;
  image?: Buffer;
  mask?: Buffer;
}

const IMAGE_FIELDS = new Set(['image', 'image[]']);

/**
 * Reads an edit form: the `image` file (OpenAI clients send `image[]`), an optional `mask`,
 * and text fields. Size and part-count limits are enforced while streaming by @fastify/multipart.
 */
export async function readImageForm(request: FastifyRequest): Promise<ImageForm> {
  if (!request.isMultipart()) {
    throw new ApiError(415, 'unsupported_media_type',
      'Edits take multipart/form-data with an `image` file and a `prompt` field (e.g. curl -F image=@cat.png -F prompt="make it sad").');
  }
  const form: ImageForm = { fields: {} };
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const data = await part.toBuffer();
      if (IMAGE_FIELDS.has(part.fieldname)) {
        if (form.image) throw invalid('too_many_images', 'Send exactly one image in the `image` field.', 'image');
        form.image = data;
      } else if (part.fieldname === 'mask') {
        form.mask = data;
      } else {
        throw invalid('unexpected_file', `Unexpected file field "${part.fieldname}": send the picture as \`image\` (and optionally \`mask\`).`, part.fieldname);
      }
    } else if (typeof part.value === 'string') {
      form.fields[part.fieldname] = part.value;
    }
  }
  return form;
}
