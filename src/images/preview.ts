/**
 * Live previews: small, quickly encoded pictures of an unfinished image (see TaskPreview).
 * The worker encodes what the engine shows; the OpenAI stream re-encodes one into the
 * format a client asked for. Both stay at preview size: a few KB to a few tens of KB.
 */
import type { OutputFormat, RawImage } from '../interfaces.js';
import sharp from './sharp.js';

/** The longest side of a preview, in pixels. */
export const PREVIEW_MAX_SIDE = 256;
/** WebP quality of previews: enough to see the picture form, small enough to stream often. */
const PREVIEW_QUALITY = 60;

export interface EncodedPreview {
  width: number;
  height: number;
  format: 'webp';
  data: Buffer;
}

/** Fits width x height inside maxSide (never enlarging), keeping the aspect ratio. */
export function previewSize(width: number, height: number, maxSide = PREVIEW_MAX_SIDE): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Scales the picture to at most PREVIEW_MAX_SIDE and encodes it as WebP (fast settings). */
export async function encodePreview(raw: RawImage): Promise<EncodedPreview> {
  const { width, height, channels, data } = raw;
  if (data.length !== width * height * channels) {
    throw new RangeError(`raw preview buffer is ${data.length} bytes, expected ${width}x${height}x${channels}`);
  }
  const size = previewSize(width, height);
  let img = sharp(data, { raw: { width, height, channels } });
  if (size.width !== width || size.height !== height) img = img.resize(size.width, size.height, { fit: 'fill', kernel: 'linear' });
  if (channels === 4) img = img.removeAlpha();
  const out = await img.webp({ quality: PREVIEW_QUALITY, effort: 0 }).toBuffer();
  return { ...size, format: 'webp', data: out };
}

/** An encoded preview in another format (OpenAI partial images come in the requested output_format). */
export async function transcodePreview(data: Buffer, format: OutputFormat, quality?: number): Promise<Buffer> {
  const img = sharp(data);
  if (format === 'png') return img.png({ compressionLevel: 3, adaptiveFiltering: false, palette: false }).toBuffer();
  const q = quality === undefined ? 80 : Math.min(100, Math.max(1, Math.round(quality)));
  if (format === 'jpeg') return img.jpeg({ quality: q }).toBuffer();
  return img.webp({ quality: q, effort: 0 }).toBuffer();
}
