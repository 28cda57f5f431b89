/**
 * The format of an upload, from its first bytes. Only PNG, JPEG and WebP are accepted, and the
 * check runs before any decoder sees the file: libvips would otherwise pick a loader by itself
 * and fully parse formats we refuse anyway (a 15 MB SVG costs librsvg about 1 GB). Refusing
 * from a dozen bytes keeps every refused input cheap.
 */

export type AcceptedFormat = 'png' | 'jpeg' | 'webp';

/** Enough bytes to tell every format below apart. */
export const SNIFF_BYTES = 16;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const latin1 = (buf: Uint8Array, start: number, end: number) => Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', start, end);

/** The accepted format the bytes start with, or undefined. */
export function sniffFormat(buf: Uint8Array): AcceptedFormat | undefined {
  if (buf.length >= 8 && PNG_SIGNATURE.equals(buf.subarray(0, 8))) return 'png';
  // SOI followed by the first marker's 0xFF.
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 12 && latin1(buf, 0, 4) === 'RIFF' && latin1(buf, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** Signatures of formats people commonly try to upload, so the refusal can name what was sent. */
const KNOWN: Array<[string, (buf: Uint8Array) => boolean]> = [
  ['gif', (b) => latin1(b, 0, 4) === 'GIF8'],
  ['bmp', (b) => latin1(b, 0, 2) === 'BM'],
  ['tiff', (b) => latin1(b, 0, 4) === 'II*\0' || latin1(b, 0, 4) === 'MM\0*'],
  ['pdf', (b) => latin1(b, 0, 5) === '%PDF-'],
  ['heif', (b) => latin1(b, 4, 8) === 'ftyp' && /^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(latin1(b, 8, 12))],
  ['avif', (b) => latin1(b, 4, 8) === 'ftyp' && /^avi[fs]$/.test(latin1(b, 8, 12))],
  ['jxl', (b) => (b[0] === 0xff && b[1] === 0x0a) || latin1(b, 4, 8) === 'JXL '],
  ['ico', (b) => b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0],
];

/**
 * A name for bytes that are not an accepted format: "svg", "gif", ... or undefined when they look
 * like nothing known. SVG is text, so it is recognised by a leading `<` (after a BOM or spaces).
 */
export function guessOtherFormat(buf: Uint8Array): string | undefined {
  if (buf.length < 2) return undefined;
  for (const [name, test] of KNOWN) if (test(buf)) return name;
  const text = latin1(buf, 0, Math.min(buf.length, 256)).replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  if (/^<(\?xml|svg|!DOCTYPE svg|!--)/i.test(text)) return 'svg';
  if (text.startsWith('<')) return 'xml or html';
  return undefined;
}
