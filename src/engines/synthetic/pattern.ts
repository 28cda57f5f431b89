/**
 * Pixel generators for the synthetic engine. They must be fast (the synthetic engine
 * doubles as the benchmark engine), so the inner loops only add precomputed integer
 * terms and look colours up in a table: no trig, no calls, no allocation per pixel.
 */
import type { RawImage } from '../../interfaces.js';
import { between, type Random } from './hash.js';

/** Palette entries; a power of two so wrapping an index is a mask. */
const PALETTE_SIZE = 1024;
const PALETTE_MASK = PALETTE_SIZE - 1;
/** Resolution of the squared-radius lookup for the ring term. */
const RING_STEPS = 65536;
const TAU = 2 * Math.PI;

/**
 * A cyclic cosine palette (a + b*cos(2*pi*(c*t + d)) per channel, integer c so it wraps
 * seamlessly), flattened to r,g,b triples.
 */
function cosinePalette(rand: Random): Uint8Array {
  const params = [0, 1, 2].map(() => ({
    a: between(rand, 0.4, 0.6),
    b: between(rand, 0.35, 0.5),
    c: 1 + Math.floor(rand() * 2),
    d: rand(),
  }));
  const out = new Uint8Array(PALETTE_SIZE * 3);
  for (let i = 0; i < PALETTE_SIZE; i++) {
    const t = i / PALETTE_SIZE;
    for (let ch = 0; ch < 3; ch++) {
      const { a, b, c, d } = params[ch];
      const v = a + b * Math.cos(TAU * (c * t + d));
      out[i * 3 + ch] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
  }
  return out;
}

/** amp * sin(2*pi*(freq*i/span + phase)) for i in [0, n), in palette-index units. */
function wave(n: number, span: number, rand: Random): Int32Array {
  const freq = between(rand, 0.4, 2.5);
  const phase = rand();
  const amp = between(rand, 150, 380);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin(TAU * ((freq * i) / span + phase)));
  return out;
}

/**
 * A smooth, colourful "plasma": the sum of a column wave, a row wave, a diagonal wave
 * and rings around a random centre, mapped through a random cyclic palette. Sizes are
 * normalised by the longer side, so the picture looks alike at 256 and at 2048 pixels.
 */
export function renderPlasma(width: number, height: number, rand: Random): RawImage {
  const palette = cosinePalette(rand);
  const span = Math.max(width, height);
  const col = wave(width, span, rand);
  const row = wave(height, span, rand);
  const diag = wave(width + height, span, rand);

  // Ring term: the squared distance splits into an x part plus a y part, each quantised
  // to RING_STEPS of the largest possible value; a table maps it to sin(radius).
  const cx = rand() * width;
  const cy = rand() * height;
  const maxR2 = 2 * span * span;
  const ringX = new Int32Array(width);
  const ringY = new Int32Array(height);
  for (let x = 0; x < width; x++) ringX[x] = Math.round((((x - cx) * (x - cx)) / maxR2) * RING_STEPS);
  for (let y = 0; y < height; y++) ringY[y] = Math.round((((y - cy) * (y - cy)) / maxR2) * RING_STEPS);
  const ringFreq = between(rand, 1.5, 5);
  const ringPhase = rand();
  const ringAmp = between(rand, 150, 380);
  const ring = new Int32Array(RING_STEPS + 2);
  for (let q = 0; q < ring.length; q++) {
    const radius = Math.sqrt(q / RING_STEPS) * Math.SQRT2; // in units of span
    ring[q] = Math.round(ringAmp * Math.sin(TAU * (ringFreq * radius + ringPhase)));
  }

  const data = Buffer.allocUnsafe(width * height * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const rowTerm = row[y];
    const ry = ringY[y];
    for (let x = 0; x < width; x++) {
      // & on a negative int wraps correctly in two's complement.
      const p = ((rowTerm + col[x] + diag[x + y] + ring[ringX[x] + ry]) & PALETTE_MASK) * 3;
      data[o] = palette[p];
      data[o + 1] = palette[p + 1];
      data[o + 2] = palette[p + 2];
      o += 3;
    }
  }
  return { width, height, channels: 3, data };
}

/** Nearest-neighbour copy to width x height RGB; the input itself when it already fits. */
export function fitRgb(img: RawImage, width: number, height: number): RawImage {
  if (img.width === width && img.height === height && img.channels === 3) return img;
  const ch = img.channels;
  const srcX = new Int32Array(width);
  for (let x = 0; x < width; x++) srcX[x] = Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / width)) * ch;
  const data = Buffer.allocUnsafe(width * height * 3);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const rowStart = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / height)) * img.width * ch;
    for (let x = 0; x < width; x++) {
      const s = rowStart + srcX[x];
      data[o] = img.data[s];
      data[o + 1] = img.data[s + 1];
      data[o + 2] = img.data[s + 2];
      o += 3;
    }
  }
  return { width, height, channels: 3, data };
}

/**
 * The "edit": the input's hue rotated by a hash-chosen angle scaled by strength, then
 * tinted towards a hash-chosen colour. Hue rotation keeps luminance and saturation, so
 * the picture's structure survives and a test (or a person) can see the upload was used.
 */
export function recolour(input: RawImage, strength: number, rand: Random): RawImage {
  const s = Math.min(1, Math.max(0, strength));
  const angle = s * between(rand, Math.PI / 3, (5 * Math.PI) / 3); // 60..300 degrees at full strength
  const tint = [rand() * 255, rand() * 255, rand() * 255];
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // The luminance-preserving hue rotation matrix (as in CSS filter: hue-rotate()).
  const hue = [
    [0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715, 0.072 - cos * 0.072 + sin * 0.928],
    [0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.14, 0.072 - cos * 0.072 - sin * 0.283],
    [0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715, 0.072 + cos * 0.928 + sin * 0.072],
  ];
  // out = (1 - k)*hue*in + k*tint with k = strength/4, folded into one affine map.
  const k = s / 4;
  const m = hue.map((r) => r.map((v) => (1 - k) * v));
  const off = tint.map((t) => k * t);
  const [m00, m01, m02] = m[0];
  const [m10, m11, m12] = m[1];
  const [m20, m21, m22] = m[2];
  const [o0, o1, o2] = off;
  const src = input.data;
  const data = Buffer.allocUnsafe(src.length);
  // A clamped view rounds and clips to 0..255 on store, without branches.
  const out = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < src.length; i += 3) {
    const r = src[i];
    const g = src[i + 1];
    const b = src[i + 2];
    out[i] = m00 * r + m01 * g + m02 * b + o0;
    out[i + 1] = m10 * r + m11 * g + m12 * b + o1;
    out[i + 2] = m20 * r + m21 * g + m22 * b + o2;
  }
  return { width: input.width, height: input.height, channels: 3, data };
}
