/**
 * PNG text metadata (prompt, seed, engine...) written as chunks right after IHDR, so
 * tools that read only the start of a file (and the PNG spec's "before IDAT" rule for
 * text) see it. sharp cannot write arbitrary PNG text, hence this small chunk writer.
 *
 * tEXt is Latin-1 only; values that contain other characters go into an uncompressed
 * iTXt chunk (UTF-8) instead of being mangled. readPngTextChunks reads both.
 */
import * as zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;

/** The PNG spec's table-driven CRC-32, for Node versions before 20.15 (no zlib.crc32). */
function tableCrc32(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: Crc32 }).crc32;
export const crc32: Crc32 = nativeCrc32 ? (d, v) => nativeCrc32(d, v) >>> 0 : tableCrc32;
/** Exposed so the fallback is tested even where Node has zlib.crc32. */
export const crc32Fallback: Crc32 = tableCrc32;

/** A complete chunk: length, type, data, CRC over type + data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function isLatin1(s: string): boolean {
  return /^[\u0001-\u00ff]*$/u.test(s);
}

/** Keywords are 1-79 Latin-1 characters without leading, trailing or double spaces (PNG spec 11.3.4.3). */
function checkKeyword(key: string): void {
  const ok = key.length >= 1 && key.length <= 79 && /^[\u0020-\u007e\u00a1-\u00ff]+$/u.test(key);
  if (!ok || key !== key.trim() || key.includes('  ')) {
    throw new RangeError(`invalid PNG text keyword ${JSON.stringify(key)}`);
  }
}

function textChunk(key: string, value: string): Buffer {
  checkKeyword(key);
  // NUL separates fields, so it cannot appear inside a value.
  const clean = value.replace(/\0/gu, '');
  if (isLatin1(clean)) {
    return pngChunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(clean, 'latin1')]));
  }
  // iTXt: keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text.
  const head = Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0])]);
  return pngChunk('iTXt', Buffer.concat([head, Buffer.from(clean, 'utf8')]));
}

function ihdrEnd(png: Buffer): number {
  if (png.length < 33 || !png.subarray(0, 8).equals(SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG: missing signature or IHDR chunk');
  }
  return 8 + 12 + png.readUInt32BE(8);
}

/** Returns a copy of the PNG with one text chunk per entry inserted right after IHDR. */
export function addPngTextChunks(png: Buffer, entries: Record<string, string>): Buffer {
  const at = ihdrEnd(png);
  const chunks = Object.entries(entries).map(([k, v]) => textChunk(k, String(v)));
  if (chunks.length === 0) return png;
  return Buffer.concat([png.subarray(0, at), ...chunks, png.subarray(at)]);
}

/** Reads every tEXt and uncompressed iTXt chunk. Stops at IEND or at a chunk that runs past the end. */
export function readPngTextChunks(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = ihdrEnd(png);
  while (pos + 12 <= png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const start = pos + 8;
    const end = start + len;
    if (end + 4 > png.length || type === 'IEND') break;
    const data = png.subarray(start, end);
    const nul = data.indexOf(0);
    if (nul > 0 && type === 'tEXt') {
      out[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    } else if (nul > 0 && type === 'iTXt' && data[nul + 1] === 0) {
      const lang = data.indexOf(0, nul + 3);
      const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
      if (translated >= 0) out[data.toString('latin1', 0, nul)] = data.toString('utf8', translated + 1);
    }
    pos = end + 4;
  }
  return out;
}
