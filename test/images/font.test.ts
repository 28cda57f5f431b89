import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawImage } from '../../src/interfaces.js';
import { CELL_H, CELL_W, drawText, measureText, toPrintableAscii, wrapText } from '../../src/images/font.js';

function blank(width: number, height: number, channels: 3 | 4 = 3): RawImage {
  return { width, height, channels, data: Buffer.alloc(width * height * channels) };
}

/** Coordinates of pixels whose red channel is non-zero. */
function lit(img: RawImage): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) if (img.data[(y * img.width + x) * img.channels] > 0) out.push([x, y]);
  }
  return out;
}

test('drawText draws the exact glyph bitmap of "I"', () => {
  const img = blank(8, 10);
  drawText(img, 'I', 0, 0, { scale: 1, color: [255, 255, 255] });
  // 'I' is a centre stem (column 2, rows 0..6) with serifs in columns 1 and 3 on rows 0 and 6.
  const expected: Array<[number, number]> = [];
  for (let y = 0; y < 7; y++) expected.push([2, y]);
  expected.push([1, 0], [3, 0], [1, 6], [3, 6]);
  const key = ([x, y]: [number, number]) => y * 100 + x;
  assert.deepEqual(lit(img).map(key).sort((a, b) => a - b), expected.map(key).sort((a, b) => a - b));
});

test('drawText writes the requested colour and scales each font pixel to scale x scale', () => {
  const img = blank(20, 20);
  drawText(img, 'I', 0, 0, { scale: 2, color: [10, 20, 30] });
  assert.equal(lit(img).length, 11 * 4);
  const o = (0 * 20 + 4) * 3; // font pixel (2,0) covers image pixels x 4..5, y 0..1
  assert.deepEqual([...img.data.subarray(o, o + 3)], [10, 20, 30]);
  assert.equal(img.data[(1 * 20 + 5) * 3], 10);
});

test('drawText on RGBA makes drawn pixels opaque and leaves the rest alone', () => {
  const img = blank(8, 10, 4);
  drawText(img, 'I', 0, 0, { scale: 1, color: [255, 0, 0] });
  assert.equal(img.data[(0 * 8 + 2) * 4 + 3], 255);
  assert.equal(img.data[(0 * 8 + 0) * 4 + 3], 0);
  assert.equal(lit(img).length, 11);
});

test('drawText clips at every edge instead of throwing or wrapping around', () => {
  const img = blank(8, 10);
  drawText(img, 'I', -2, 0, { scale: 1, color: [255, 255, 255] });
  // Column 2 lands on x=0 (7 pixels), column 3 on x=1 (2 pixels); column 1 is off-canvas.
  assert.equal(lit(img).length, 9);
  assert.ok(lit(img).every(([x]) => x <= 1));

  const before = Buffer.from(img.data);
  drawText(img, 'HELLO', 100, 100, { scale: 3, color: [255, 255, 255] });
  drawText(img, 'HELLO', -1000, -1000, { scale: 3, color: [255, 255, 255] });
  assert.deepEqual(img.data, before);

  const edge = blank(8, 10);
  drawText(edge, 'I', 6, 5, { scale: 1, color: [255, 255, 255] });
  // Only x 7 (column 1 of the glyph) and rows 5..9 (glyph rows 0..4) are on canvas: the serif at row 0.
  assert.deepEqual(lit(edge), [[7, 5]]);
});

test('background fills whole character cells, spacing included', () => {
  const img = blank(20, 20);
  const box = drawText(img, '  ', 1, 1, { scale: 1, color: [255, 255, 255], background: [9, 9, 9] });
  assert.deepEqual(box, { width: 2 * CELL_W, height: CELL_H });
  assert.equal(lit(img).length, 2 * CELL_W * CELL_H);
  assert.equal(img.data[(1 * 20 + 1) * 3], 9);
  assert.equal(img.data[0], 0);
});

test('every printable ASCII character except space has its own non-empty glyph', () => {
  const seen = new Map<string, string>();
  for (let code = 33; code <= 126; code++) {
    const ch = String.fromCharCode(code);
    const img = blank(CELL_W, CELL_H);
    drawText(img, ch, 0, 0, { scale: 1, color: [255, 255, 255] });
    assert.ok(lit(img).length > 0, `glyph for ${JSON.stringify(ch)} is empty`);
    const bitmap = img.data.toString('hex');
    assert.equal(seen.get(bitmap), undefined, `${JSON.stringify(ch)} looks like ${JSON.stringify(seen.get(bitmap))}`);
    seen.set(bitmap, ch);
  }
});

test('non-ASCII characters render as "?" (one per code point)', () => {
  const a = blank(40, 10);
  const b = blank(40, 10);
  drawText(a, 'é🦊', 0, 0, { scale: 1, color: [255, 255, 255] });
  drawText(b, '??', 0, 0, { scale: 1, color: [255, 255, 255] });
  assert.deepEqual(a.data, b.data);
  assert.equal(toPrintableAscii('naïve 🦊\n'), 'na?ve ??');
  assert.deepEqual(measureText('é🦊', 2), { width: 2 * CELL_W * 2, height: CELL_H * 2 });
});

test('wrapText wraps on word boundaries', () => {
  assert.deepEqual(wrapText('the quick brown fox jumps', 10, 5), ['the quick', 'brown fox', 'jumps']);
  assert.deepEqual(wrapText('  spaced\n\tout  ', 20, 2), ['spaced out']);
  assert.deepEqual(wrapText('', 10, 3), []);
});

test('wrapText splits words longer than a line', () => {
  assert.deepEqual(wrapText('abcdefghijkl xy', 5, 5), ['abcde', 'fghij', 'kl xy']);
});

test('wrapText ends with an ellipsis when the text does not fit', () => {
  assert.deepEqual(wrapText('one two three four five', 9, 2), ['one two', 'three...']);
  assert.deepEqual(wrapText('aaaaaaaaaa bbbbbbbbbb', 10, 1), ['aaaaaaa...']);
  for (const line of wrapText('x'.repeat(500), 7, 3)) assert.ok(line.length <= 7);
  assert.deepEqual(wrapText('hello world', 10, 0), []);
});

test('wrapText replaces non-ASCII with "?"', () => {
  assert.deepEqual(wrapText('café 🦊 time', 20, 1), ['caf? ? time']);
});
