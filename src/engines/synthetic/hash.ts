/**
 * Deterministic randomness for the synthetic engine: every visual choice (palette,
 * wave frequencies, tint) is drawn from a generator seeded by a SHA-256 of the job's
 * inputs, so the same request always yields the same bytes on any machine, and any
 * change to prompt, seed, size or settings yields a different picture.
 */
import { createHash } from 'node:crypto';

/** A generator of floats in [0, 1). */
export type Random = () => number;

/** SHA-256 of the JSON encoding of parts; JSON keeps "ab","c" distinct from "a","bc". */
export function digest(parts: readonly unknown[]): Buffer {
  return createHash('sha256').update(JSON.stringify(parts)).digest();
}

/**
 * sfc32 seeded with the first 16 bytes of the digest: tiny, fast, and good enough
 * for picking colours; the digest already mixes the inputs thoroughly.
 */
export function randomFrom(parts: readonly unknown[]): Random {
  const d = digest(parts);
  let a = d.readUInt32LE(0);
  let b = d.readUInt32LE(4);
  let c = d.readUInt32LE(8);
  let e = d.readUInt32LE(12);
  const next: Random = () => {
    const t = (((a + b) | 0) + e) | 0;
    e = (e + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Discard a few outputs so the first values are well mixed (the usual sfc32 warm-up).
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** A float in [lo, hi). */
export const between = (rand: Random, lo: number, hi: number): number => lo + (hi - lo) * rand();
