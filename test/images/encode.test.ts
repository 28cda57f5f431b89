import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { RawImage } from '../../src/interfaces.js';
import { contentTypeOf, encodeImage, extensionOf } from '../../src/images/encode.js';
import { addPngTextChunks, crc32, crc32Fallback, readPngTextChunks } from '../../src/images/pngText.js';

/** A deterministic image with detail in every channel, so lossless round trips are meaningful. */
function gradient(width: number, height: number, channels: 3 | 4 = 3): RawImage {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      data[o] = (x * 255) / (width - 1);
      data[o + 1] = (y * 255) / (height - 1);
      data[o + 2] = (x * y) & 255;
      if (channels === 4) data[o + 3] = x < width / 2 ? 255 : 0;
    }
  }
  return { width, height, channels, data };
}

test('content types and file extensions', () => {
  assert.equal(contentTypeOf('png'), 'image/png');
  assert.equal(contentTypeOf('jpeg'), 'image/jpeg');
  assert.equal(contentTypeOf('webp'), 'image/webp');
  assert.equal(extensionOf('png'), 'png');
  assert.equal(extensionOf('jpeg'), 'jpg');
  assert.equal(extensionOf('webp'), 'webp');
});

test('CRC-32 matches the PNG spec, natively and in the fallback table', () => {
  const iend = Buffer.from('IEND', 'latin1');
  assert.equal(crc32(iend), 0xae426082);
  assert.equal(crc32Fallback(iend), 0xae426082);
  const data = randomBytes(4096);
  assert.equal(crc32Fallback(data), crc32(data));
});

test('PNG is lossless and carries metadata as text chunks right after IHDR', async () => {
  const raw = gradient(64, 48);
  const metadata = { prompt: 'a red fox, snow', seed: '42', Software: 'Z-Image Server', note: 'naïve 🦊 ünïcode' };
  const png = await encodeImage(raw, 'png', { metadata });

  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  assert.equal(png.toString('latin1', 37, 41), 'tEXt');
  assert.deepEqual(readPngTextChunks(png), metadata);

  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [64, 48, 3]);
  assert.deepEqual(data, raw.data);
});

test('PNG keeps RGBA and encodes without metadata too', async () => {
  const raw = gradient(16, 8, 4);
  const png = await encodeImage(raw, 'png');
  assert.deepEqual(readPngTextChunks(png), {});
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  assert.deepEqual(data, raw.data);
});

test('addPngTextChunks rejects non-PNG input and invalid keywords', async () => {
  assert.throws(() => addPngTextChunks(Buffer.from('not a png at all, not even close'), { a: 'b' }), /not a PNG/);
  const png = await encodeImage(gradient(4, 4), 'png');
  assert.throws(() => addPngTextChunks(png, { '': 'x' }), RangeError);
  assert.throws(() => addPngTextChunks(png, { ['k'.repeat(80)]: 'x' }), RangeError);
  assert.equal(addPngTextChunks(png, {}), png);
});

for (const format of ['jpeg', 'webp'] as const) {
  test(`${format} decodes back to the right size and carries EXIF description`, async () => {
    const raw = gradient(80, 60);
    const out = await encodeImage(raw, format, { metadata: { prompt: 'a fox', seed: '7', Software: 'zimage-test' } });
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, format);
    assert.deepEqual([meta.width, meta.height], [80, 60]);
    assert.ok(meta.exif, 'EXIF block present');
    assert.ok(meta.exif.includes('prompt=a fox; seed=7'), 'ImageDescription holds key=value pairs');
    assert.ok(meta.exif.includes('zimage-test'), 'Software tag written');
  });

  test(`${format} quality changes the output size`, async () => {
    const raw = gradient(128, 128);
    const low = await encodeImage(raw, format, { quality: 10 });
    const high = await encodeImage(raw, format, { quality: 98 });
    assert.ok(high.length > low.length, `${high.length} > ${low.length}`);
  });
}

test('JPEG flattens transparency onto white', async () => {
  const raw = gradient(32, 32, 4); // the right half is fully transparent
  const jpg = await encodeImage(raw, 'jpeg', { quality: 95 });
  const { data, info } = await sharp(jpg).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  const o = (16 * 32 + 28) * 3;
  assert.ok(data[o] > 240 && data[o + 1] > 240 && data[o + 2] > 240, `got ${[...data.subarray(o, o + 3)]}`);
});

test('a raw buffer of the wrong length is refused', async () => {
  const bad = { width: 10, height: 10, channels: 3 as const, data: Buffer.alloc(299) };
  await assert.rejects(encodeImage(bad, 'png'), RangeError);
});
