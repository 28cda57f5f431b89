import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { ApiError } from '../../src/errors.js';
import { decodeMask, decodeToRaw, inspectImage } from '../../src/images/decode.js';
import { maskToGray } from '../../src/engines/diffusers/engine.js';
import { declaredSize } from '../../src/images/header.js';
import { pngChunk } from '../../src/images/pngText.js';

const LIMIT = { maxPixels: 4_000_000, param: 'image' };

/** Left half red, right half blue. */
function halves(width: number, height: number) {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const left = i % width < width / 2;
    data[i * 3] = left ? 255 : 0;
    data[i * 3 + 2] = left ? 0 : 255;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

async function rejectsWith(promise: Promise<unknown>, code: string, param = 'image', message?: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, code);
    assert.equal(err.param, param);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** A PNG that is only a signature and a valid IHDR chunk claiming width x height. */
function lonePngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr)]);
}

test('accepts PNG, JPEG and WebP and reports format and size', async () => {
  const img = halves(40, 30);
  for (const [format, buf] of [
    ['png', await img.clone().png().toBuffer()],
    ['jpeg', await img.clone().jpeg().toBuffer()],
    ['webp', await img.clone().webp().toBuffer()],
  ] as const) {
    assert.deepEqual(await inspectImage(buf, LIMIT), { format, width: 40, height: 30 });
    assert.deepEqual(declaredSize(buf), { format, width: 40, height: 30 });
  }
});

test('random bytes and empty uploads are invalid_image with a hint', async () => {
  await rejectsWith(inspectImage(randomBytes(2048), LIMIT), 'invalid_image', 'image', /PNG, JPEG or WebP/);
  await rejectsWith(inspectImage(Buffer.alloc(0), LIMIT), 'invalid_image', 'image', /empty/);
});

test('other formats are refused as unsupported', async () => {
  const gif = await halves(8, 8).gif().toBuffer();
  await rejectsWith(inspectImage(gif, LIMIT), 'invalid_image', 'image', /Unsupported image format "gif"/);
});

test('a PNG truncated to half is invalid_image, saying it is truncated or corrupt', async () => {
  const png = await halves(128, 128).png({ compressionLevel: 0 }).toBuffer();
  await rejectsWith(inspectImage(png.subarray(0, png.length >> 1), LIMIT), 'invalid_image', 'image', /truncated or corrupt/);
});

test('a truncated JPEG is invalid_image', async () => {
  const jpg = await halves(128, 128).jpeg().toBuffer();
  await rejectsWith(inspectImage(jpg.subarray(0, jpg.length >> 1), LIMIT), 'invalid_image');
});

test('a lone IHDR claiming 100000x100000 is image_too_large, without decoding', async () => {
  const bomb = lonePngHeader(100_000, 100_000);
  assert.equal(bomb.length, 33);
  await rejectsWith(inspectImage(bomb, LIMIT), 'image_too_large', 'image', /100000x100000/);
});

test('a real image over maxPixels is image_too_large and names the field', async () => {
  const png = await halves(300, 200).png().toBuffer();
  await rejectsWith(inspectImage(png, { maxPixels: 10_000, param: 'mask' }), 'image_too_large', 'mask', /limit is 10000/);
  assert.equal((await inspectImage(png, { maxPixels: 60_000, param: 'mask' })).width, 300);
});

test('EXIF orientation is applied to the reported size and the decoded pixels', async () => {
  const jpg = await halves(40, 20).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  assert.deepEqual(await inspectImage(jpg, LIMIT), { format: 'jpeg', width: 20, height: 40 });
  const raw = await decodeToRaw(jpg);
  assert.deepEqual([raw.width, raw.height, raw.channels], [20, 40, 3]);
  // Rotated 90 degrees clockwise: the red left half is now the top half.
  assert.ok(raw.data[(5 * 20 + 10) * 3] > 200 && raw.data[(5 * 20 + 10) * 3 + 2] < 60);
  assert.ok(raw.data[(35 * 20 + 10) * 3 + 2] > 200 && raw.data[(35 * 20 + 10) * 3] < 60);
});

test('decodeToRaw resizes to exactly the requested size, cropping centred (cover)', async () => {
  const png = await halves(200, 100).png().toBuffer();
  const raw = await decodeToRaw(png, { width: 100, height: 100 });
  assert.deepEqual([raw.width, raw.height, raw.channels, raw.data.length], [100, 100, 3, 100 * 100 * 3]);
  // The centred crop keeps x 50..149 of the source: red on the left, blue on the right.
  assert.deepEqual([...raw.data.subarray((50 * 100 + 10) * 3, (50 * 100 + 10) * 3 + 3)], [255, 0, 0]);
  assert.deepEqual([...raw.data.subarray((50 * 100 + 90) * 3, (50 * 100 + 90) * 3 + 3)], [0, 0, 255]);

  const stretched = await decodeToRaw(png, { width: 64, height: 32 });
  assert.deepEqual([stretched.width, stretched.height], [64, 32]);
});

test('decodeToRaw flattens alpha onto white and always returns 3 channels', async () => {
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let i = 0; i < 16; i++) {
    rgba[i * 4] = 255; // red...
    rgba[i * 4 + 3] = i < 8 ? 0 : 128; // ...fully transparent on top, half transparent below
  }
  const png = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer();
  const raw = await decodeToRaw(png);
  assert.equal(raw.channels, 3);
  assert.equal(raw.data.length, 4 * 4 * 3);
  assert.deepEqual([...raw.data.subarray(0, 3)], [255, 255, 255]);
  const half = [...raw.data.subarray(12 * 3, 12 * 3 + 3)];
  assert.equal(half[0], 255);
  assert.ok(Math.abs(half[1] - 127) <= 2 && Math.abs(half[2] - 127) <= 2, `got ${half}`);
});

test('decodeToRaw turns greyscale into RGB', async () => {
  const grey = await sharp(Buffer.alloc(16, 77), { raw: { width: 4, height: 4, channels: 1 } }).png().toBuffer();
  const raw = await decodeToRaw(grey);
  assert.equal(raw.channels, 3);
  assert.deepEqual([...raw.data.subarray(0, 3)], [77, 77, 77]);
});

test('decodeToRaw honours maxPixels', async () => {
  const png = await halves(100, 100).png().toBuffer();
  await assert.rejects(decodeToRaw(png, { maxPixels: 1000 }), /pixel limit/i);
});

test('decodeMask keeps an OpenAI-style mask\'s transparency: the transparent hole becomes the area to repaint', async () => {
  // Left half transparent (repaint), right half an opaque light-grey picture (keep).
  const w = 64, h = 32;
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      rgba.set(x < w / 2 ? [0, 0, 0, 0] : [200, 200, 200, 255], i);
    }
  }
  const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
  const mask = await decodeMask(png, { width: 128, height: 64 });
  assert.deepEqual([mask.width, mask.height, mask.channels], [128, 64, 4]);
  const gray = maskToGray(mask);
  assert.equal(gray[10 * 128 + 5], 255, 'transparent → repaint');
  assert.equal(gray[10 * 128 + 120], 0, 'opaque light grey → keep (flattening would have made it 200)');
  const flattened = await decodeToRaw(png, { width: 128, height: 64 });
  assert.equal(flattened.channels, 3);
});
