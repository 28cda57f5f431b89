import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { ApiError, invalid } from '../errors.js';
import { checkFormat } from '../images/decode.js';
import { SNIFF_BYTES } from '../images/sniff.js';

export interface ImageForm {
  /** The text fields (strings from a form, typed values from JSON); validated later by toTaskParams. */
  fields: Record<string, unknown>;
  image?: Buffer;
  mask?: Buffer;
}

const IMAGE_FIELDS = new Set(['image', 'image[]']);

/**
 * Reads an edit request: multipart/form-data with the `image` file (OpenAI clients send
 * `image[]`), an optional `mask` and text fields; or, for agents that can only send JSON,
 * a JSON object whose `image` (and `mask`) is base64 or a `data:` URL. Size and part-count
 * limits are enforced while streaming by @fastify/multipart (JSON: by the route's bodyLimit).
 * A refused form is not read further: the rest of its body is discarded unbuffered, so the
 * client still gets the answer and the connection stays usable.
 */
export async function readImageForm(request: FastifyRequest, maxUploadBytes: number): Promise<ImageForm> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (body && typeof body === 'object' && !Array.isArray(body)) return imageFormFromJson(body as Record<string, unknown>, maxUploadBytes);
    throw new ApiError(415, 'unsupported_media_type',
      'Edits take multipart/form-data with an `image` file and a `prompt` field (e.g. curl -F image=@cat.png -F prompt="make it sad"), ' +
      'or a JSON object with the image base64-encoded in "image".');
  }
  const form: ImageForm = { fields: {} };
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (IMAGE_FIELDS.has(part.fieldname)) {
          if (form.image) throw invalid('too_many_images', 'Send exactly one image in the `image` field.', 'image');
          form.image = await readImageFile(part, 'image', maxUploadBytes);
        } else if (part.fieldname === 'mask') {
          form.mask = await readImageFile(part, 'mask', maxUploadBytes);
        } else {
          throw invalid('unexpected_file', `Unexpected file field "${part.fieldname}": send the picture as \`image\` (and optionally \`mask\`).`, part.fieldname);
        }
      } else if (typeof part.value === 'string') {
        form.fields[part.fieldname] = part.value;
      }
    }
  } catch (err) {
    discardRest(request);
    throw err;
  }
  return form;
}

/**
 * One uploaded file into memory. Its first bytes decide: anything that is not PNG, JPEG or WebP
 * is refused before the rest is buffered (an SVG of many MB costs nothing). Past the upload
 * limit busboy truncates the file, and that is a 413 as with @fastify/multipart's toBuffer().
 */
async function readImageFile(part: MultipartFile, param: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let sniffed = false;
  for await (const chunk of part.file as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (!sniffed && size >= SNIFF_BYTES) {
      sniffed = true;
      checkFormat(chunks.length === 1 ? chunk : Buffer.concat(chunks), param);
    }
  }
  if (part.file.truncated) {
    throw Object.assign(new Error('request file too large'), { code: 'FST_REQ_FILE_TOO_LARGE', statusCode: 413, limit: maxBytes });
  }
  return Buffer.concat(chunks, size);
}

/** Stops parsing a refused form and lets the rest of its body drain into nothing. */
function discardRest(request: FastifyRequest): void {
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return;
  raw.unpipe();
  raw.resume();
}

const DATA_URL_RE = /^data:image\/[\w.+-]+;base64,/i;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Decodes a JSON image field: plain base64 (standard or URL-safe) or a data: URL. */
function decodeImageField(value: unknown, param: string, maxBytes: number): Buffer | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const bad = () => invalid('invalid_image',
    `"${param}" must be the image file's bytes as a base64 string or a data: URL (e.g. "data:image/png;base64,iVBOR..."). ` +
    'Image URLs are not fetched: download the image and send its bytes.', param);
  if (typeof value !== 'string') throw bad();
  // The first bytes decide the format before the whole string is decoded (see readImageFile).
  const start = DATA_URL_RE.exec(value)?.[0].length ?? 0;
  const head = Buffer.from(value.slice(start, start + 256).replace(/\s+/g, '').slice(0, 4 * Math.ceil(SNIFF_BYTES / 3)), 'base64');
  if (head.length >= SNIFF_BYTES) checkFormat(head, param);
  const b64 = value.slice(start).replace(/\s+/g, '');
  if (!BASE64_RE.test(b64)) throw bad();
  const data = Buffer.from(b64, 'base64');
  if (data.length > maxBytes) {
    throw new ApiError(413, 'file_too_large', `"${param}" is larger than ${Math.round((maxBytes / 1048576) * 100) / 100} MiB. Upload a smaller image.`, param);
  }
  return data;
}

function imageFormFromJson(body: Record<string, unknown>, maxBytes: number): ImageForm {
  const { image, 'image[]': imageArray, mask, ...fields } = body;
  return {
    fields,
    image: decodeImageField(image ?? imageArray, 'image', maxBytes),
    mask: decodeImageField(mask, 'mask', maxBytes),
  };
}
