import { randomBytes } from 'node:crypto';

/** 128 random bits, lowercase hex: opaque, unguessable, path-safe. */
export const newTaskId = (): string => randomBytes(16).toString('hex');
export const newToken = (): string => randomBytes(16).toString('hex');
export const newWorkerId = (): string => `w_${randomBytes(6).toString('hex')}`;

export const TASK_ID_RE = /^[a-f0-9]{32}$/;

/** Output file names: `gen_` or `edit_` + 128 random bits + extension. Never derived from input. */
export const OUTPUT_NAME_RE = /^(gen|edit)_[a-f0-9]{32}\.(png|jpg|webp)$/;
export const newOutputName = (kind: 'generate' | 'edit', ext: 'png' | 'jpg' | 'webp'): string =>
  `${kind === 'generate' ? 'gen' : 'edit'}_${randomBytes(16).toString('hex')}.${ext}`;

/** A random 32-bit seed, for requests that do not name one. */
export const randomSeed = (): number => randomBytes(4).readUInt32BE(0) >>> 1;
