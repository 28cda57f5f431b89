/**
 * Encodes engine output (raw pixels) into the response format, carrying the
 * generation metadata inside the file: PNG text chunks, or EXIF for JPEG/WebP.
 */
import sharp from './sharp.js';
import type { Exif } from 'sharp';
import type { OutputFormat, RawImage } from '../interfaces.js';
import { addPngTextChunks } from './pngText.js';

export interface EncodeOptions {
  /** 1..100 for jpeg/webp (default 90); ignored for png, which is lossless. */
  quality?: number;
  /** Written as PNG text chunks, or folded into EXIF ImageDescription for jpeg/webp. */
  metadata?: Record<string, string>;
}

const DEFAULT_QUALITY = 90;

export function contentTypeOf(format: OutputFormat): string {
  return format === 'png' ? 'image/png' : format === 'jpeg' ? 'image/jpeg' : 'image/webp';
}

export function extensionOf(format: OutputFormat): 'png' | 'jpg' | 'webp' {
  return format === 'jpeg' ? 'jpg' : format;
}

function clampQuality(q: number | undefined): number {
  if (q === undefined || !Number.isFinite(q)) return DEFAULT_QUALITY;
  return Math.min(100, Math.max(1, Math.round(q)));
}

/**
 * EXIF has no key/value map, so metadata goes into ImageDescription as "key=value; ...".
 * Software gets its own tag when given. EXIF ASCII fields cannot hold arbitrary Unicode
 * reliably, so other characters are replaced by '?' (the PNG path keeps them exactly).
 */
function exifOf(metadata: Record<string, string>): Exif | undefined {
  const ascii = (s: string) => s.replace(/[^\u0020-\u007e]/gu, '?');
  const ifd0: Record<string, string> = {};
  const pairs = Object.entries(metadata).filter(([k]) => k !== 'Software');
  if (pairs.length > 0) ifd0.ImageDescription = ascii(pairs.map(([k, v]) => `${k}=${v}`).join('; '));
  if (metadata.Software !== undefined) ifd0.Software = ascii(metadata.Software);
  return Object.keys(ifd0).length > 0 ? { IFD0: ifd0 } : undefined;
}

export async function encodeImage(raw: RawImage, format: OutputFormat, opts: EncodeOptions = {}): Promise<Buffer> {
  const { width, height, channels, data } = raw;
  if (data.length !== width * height * channels) {
    throw new RangeError(`raw image buffer is ${data.length} bytes, expected ${width}x${height}x${channels}`);
  }
  const input = sharp(data, { raw: { width, height, channels } });
  const metadata = opts.metadata ?? {};
  if (format === 'png') {
    // Level 6 without adaptive filtering or palette quantisation: a few times faster than
    // sharp's defaults for a modest size cost, which matters on a busy server.
    const png = await input.png({ compressionLevel: 6, adaptiveFiltering: false, palette: false }).toBuffer();
    return Object.keys(metadata).length > 0 ? addPngTextChunks(png, metadata) : png;
  }
  const quality = clampQuality(opts.quality);
  const exif = exifOf(metadata);
  const withMeta = exif ? input.withExif(exif) : input;
  if (format === 'jpeg') {
    // JPEG has no alpha; flatten onto white rather than letting it turn black.
    const flat = channels === 4 ? withMeta.flatten({ background: '#ffffff' }) : withMeta;
    return flat.jpeg({ quality }).toBuffer();
  }
  return withMeta.webp({ quality }).toBuffer();
}
