/**
 * Validation and decoding of untrusted uploads. inspectImage runs in the HTTP layer
 * before a task is accepted, so a bad file is a 400 now instead of a failed task later.
 * The cheap checks come first: the format from the magic bytes (so libvips never parses an
 * SVG or anything else we refuse), then the header's declared size (so a "decompression
 * bomb" is refused before any pixel is decoded).
 */
import sharp from './sharp.js';
import type { Metadata } from 'sharp';
import { Slots } from './slots.js';
import { invalid } from '../errors.js';
import type { RawImage } from '../interfaces.js';
import { declaredSize } from './header.js';
import { guessOtherFormat, sniffFormat } from './sniff.js';

export type InputFormat = 'png' | 'jpeg' | 'webp';

const ACCEPTED: readonly string[] = ['png', 'jpeg', 'webp'];

export interface InspectedImage {
  format: InputFormat;
  width: number;
  height: number;
}

const what = (param: string) => `Upload a PNG, JPEG or WebP image in the \`${param}\` field.`;

/**
 * Fail on decoder errors (truncation, corrupt data) but not on mere warnings: real
 * camera JPEGs often carry harmless quirks such as extra bytes after the end marker.
 */
const FAIL_ON = 'error' as const;

function checkPixels(width: number, height: number, maxPixels: number, param: string): void {
  if (width * height <= maxPixels) return;
  throw invalid(
    'image_too_large',
    `The \`${param}\` image is ${width}x${height} (${width * height} pixels); the limit is ${maxPixels} pixels. ` +
      'Downscale it and upload again.',
    param,
  );
}

/**
 * Checks that buf is a complete PNG, JPEG or WebP of at most maxPixels pixels.
 * Width and height are as displayed (EXIF orientation applied).
 */
/** At most two uploads are fully decoded at a time (the machine's cores do the work anyway). */
const decodeSlots = new Slots(2);

export async function inspectImage(
  buf: Buffer,
  opts: { maxPixels: number; param: string },
): Promise<InspectedImage> {
  const { maxPixels, param } = opts;
  if (!buf || buf.length === 0) {
    throw invalid('invalid_image', `The \`${param}\` field is empty. ${what(param)}`, param);
  }
  checkFormat(buf, param);
  // First the size the header declares, read by hand: some crafted files (a lone IHDR
  // claiming 100000x100000) make libvips fail before it reports any size at all.
  const declared = declaredSize(buf);
  if (declared) checkPixels(declared.width, declared.height, maxPixels, param);
  let meta: Metadata;
  try {
    // Header only: no pixel data is decoded here.
    meta = await sharp(buf, { failOn: FAIL_ON }).metadata();
  } catch {
    throw invalid('invalid_image', `The \`${param}\` field is not a readable image. ${what(param)}`, param);
  }
  if (!ACCEPTED.includes(meta.format)) {
    throw invalid('invalid_image', `Unsupported image format "${meta.format}". ${what(param)}`, param);
  }
  const { width, height } = meta;
  if (!(width > 0 && height > 0)) {
    throw invalid('invalid_image', `The \`${param}\` image has no size. ${what(param)}`, param);
  }
  checkPixels(width, height, maxPixels, param);
  try {
    // One full decode, streamed into a tiny thumbnail so no pixel buffer reaches JS. Not
    // stats(): under concurrency it sometimes drops the decoder's error and passes a truncated
    // file. The pixel limit is a second guard in case the header lied about the size.
    await decodeSlots.run(() => sharp(buf, { failOn: FAIL_ON, limitInputPixels: maxPixels, sequentialRead: true })
      .resize(8, 8, { fit: 'fill', fastShrinkOnLoad: false })
      .raw()
      .toBuffer());
  } catch (err) {
    if (/pixel limit/iu.test(String((err as Error)?.message))) {
      throw invalid('image_too_large', `The \`${param}\` image exceeds the ${maxPixels} pixel limit. Downscale it.`, param);
    }
    throw invalid(
      'invalid_image',
      `The \`${param}\` image is truncated or corrupt and cannot be decoded. Upload the complete file again (PNG, JPEG or WebP).`,
      param,
    );
  }
  const oriented = meta.autoOrient ?? { width, height };
  return { format: meta.format as InputFormat, width: oriented.width, height: oriented.height };
}

/**
 * Refuses anything but PNG, JPEG and WebP from its first bytes (SNIFF_BYTES are enough), before
 * a decoder sees it. Uploads are checked with their first chunk, before the rest is buffered.
 */
export function checkFormat(buf: Buffer, param: string): void {
  if (sniffFormat(buf)) return;
  const other = guessOtherFormat(buf);
  throw invalid('invalid_image', other
    ? `Unsupported image format "${other}". ${what(param)}`
    : `The \`${param}\` field is not a readable image. ${what(param)}`, param);
}

export interface DecodeOptions {
  /** With both, the result is exactly width x height (cover, centred crop). With one, the aspect ratio is kept. */
  width?: number;
  height?: number;
  /** Refuse inputs with more pixels than this (sharp's default limit otherwise). */
  maxPixels?: number;
}

/**
 * Decodes to 8-bit sRGB with 3 channels, as the engines expect: EXIF orientation applied,
 * transparency flattened onto white (the usual "paper" colour for edits), grey/CMYK converted.
 */
export async function decodeToRaw(buf: Buffer, opts: DecodeOptions = {}): Promise<RawImage> {
  checkFormat(buf, 'image');
  let pipeline = sharp(buf, { failOn: FAIL_ON, limitInputPixels: opts.maxPixels ?? true })
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb');
  if (opts.width !== undefined || opts.height !== undefined) {
    pipeline = pipeline.resize(opts.width, opts.height, { fit: 'cover', position: 'centre' });
  }
  const { data, info } = await pipeline.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded image has ${info.channels} channels, expected 3`);
  return { width: info.width, height: info.height, channels: 3, data };
}

/**
 * Decodes an edit mask keeping its transparency, as 4-channel RGBA resized like the image:
 * an OpenAI-style mask marks the area to repaint by transparent pixels, which flattening
 * (as decodeToRaw does for images) would erase. Engines turn it into one channel.
 */
export async function decodeMask(buf: Buffer, opts: DecodeOptions = {}): Promise<RawImage> {
  checkFormat(buf, 'mask');
  let pipeline = sharp(buf, { failOn: FAIL_ON, limitInputPixels: opts.maxPixels ?? true })
    .rotate()
    .toColourspace('srgb')
    .ensureAlpha();
  if (opts.width !== undefined || opts.height !== undefined) {
    pipeline = pipeline.resize(opts.width, opts.height, { fit: 'cover', position: 'centre' });
  }
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`decoded mask has ${info.channels} channels, expected 4`);
  return { width: info.width, height: info.height, channels: 4, data };
}
