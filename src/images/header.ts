/**
 * Reads the declared pixel size straight from PNG, JPEG and WebP headers, without a
 * decoder. libvips refuses to even report metadata for some crafted files (a PNG that is
 * only a signature and an IHDR claiming 100000x100000), which would hide the real
 * problem: the upload claims to be enormous. Reading the few header bytes ourselves lets
 * the size limit speak first, before any decoder sees the file.
 */

export interface DeclaredSize {
  format: 'png' | 'jpeg' | 'webp';
  width: number;
  height: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngSize(buf: Buffer): DeclaredSize | undefined {
  // Signature, then IHDR must be the first chunk: length(4) "IHDR"(4) width(4) height(4).
  if (buf.length < 24 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (buf.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { format: 'png', width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

function jpegSize(buf: Buffer): DeclaredSize | undefined {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) return undefined;
    const marker = buf[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    // Markers without a length field: TEM and RST0..7.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data or end before any frame header
    const length = buf.readUInt16BE(pos + 2);
    // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (pos + 9 > buf.length) return undefined;
      return { format: 'jpeg', height: buf.readUInt16BE(pos + 5), width: buf.readUInt16BE(pos + 7) };
    }
    if (length < 2) return undefined;
    pos += 2 + length;
  }
  return undefined;
}

function webpSize(buf: Buffer): DeclaredSize | undefined {
  if (buf.length < 30 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WEBP') {
    return undefined;
  }
  const chunk = buf.toString('latin1', 12, 16);
  if (chunk === 'VP8X') {
    // Canvas width-1 and height-1 as 24-bit little-endian values.
    return { format: 'webp', width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1 };
  }
  if (chunk === 'VP8L' && buf[20] === 0x2f) {
    // 14 bits width-1, then 14 bits height-1, little-endian bit order.
    const bits = buf.readUInt32LE(21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8 ') {
    // Key frame start code 9d 01 2a, then 14-bit width and height (top 2 bits are scaling).
    if (buf[23] !== 0x9d || buf[24] !== 0x01 || buf[25] !== 0x2a) return undefined;
    return { format: 'webp', width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
  }
  return undefined;
}

/** The size an image file declares in its header, or undefined when it is not a recognisable PNG, JPEG or WebP. */
export function declaredSize(buf: Buffer): DeclaredSize | undefined {
  return pngSize(buf) ?? jpegSize(buf) ?? webpSize(buf);
}
