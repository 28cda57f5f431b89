/**
 * Shared setup for the diffusers engine tests: a DiffusersEngine running the real
 * python/zimage_worker.py with the stdlib-only fake pipeline, and a captured pino log.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DiffusersEngine } from '../../src/engines/diffusers/engine.js';
import { modelDefaults, type DiffusersEngineOptions } from '../../src/engines/diffusers/options.js';
import type { EngineContext, Job, RawImage } from '../../src/interfaces.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PYTHON_DIR = path.join(ROOT, 'python');
export const FAKE = path.join(PYTHON_DIR, 'testing', 'fake_pipeline.py');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLog() {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

export function engineOptions(env: Record<string, string> = {}, over: Partial<DiffusersEngineOptions> = {}): DiffusersEngineOptions {
  return {
    python: 'python3',
    pythonDir: PYTHON_DIR,
    model: 'Tongyi-MAI/Z-Image-Turbo',
    editModel: '',
    device: 'cuda',
    defaults: modelDefaults('Tongyi-MAI/Z-Image-Turbo'),
    editDefaults: modelDefaults('Tongyi-MAI/Z-Image-Turbo'),
    cfgNormalization: false,
    startTimeoutMs: 15_000,
    stallTimeoutMs: 0,
    cancelGraceMs: 2_000,
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 5_000,
    restartBackoffMs: 20,
    restartBackoffMaxMs: 200,
    ...over,
    env: { ZIMAGE_PIPELINE_MODULE: FAKE, FAKE_STEP_SECONDS: '0.002', ...env },
  };
}

export function makeEngine(env: Record<string, string> = {}, over: Partial<DiffusersEngineOptions> = {}) {
  const { log, lines } = captureLog();
  return { engine: new DiffusersEngine(engineOptions(env, over), log), lines };
}

export function job(over: Partial<Job> = {}): Job {
  return { taskId: 't1', kind: 'generate', prompt: 'a red fox in the snow', width: 64, height: 48, seeds: [42], ...over };
}

export function ctx(onProgress: EngineContext['onProgress'] = () => {}, signal = new AbortController().signal): EngineContext {
  return { onProgress, signal };
}

export function solid(width: number, height: number, rgba: number[]): RawImage {
  const channels = rgba.length as 3 | 4;
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) data.set(rgba, i * channels);
  return { width, height, channels, data };
}

/** Resolves with the rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Engines made by a test file, closed once after all its tests: `started` makes one and
 * registers it. Call `closeStartedEngines` from the file's `after` hook.
 */
const startedEngines: { close(): Promise<void> }[] = [];
export function started(env: Record<string, string> = {}, over: Partial<DiffusersEngineOptions> = {}) {
  const made = makeEngine(env, over);
  startedEngines.push(made.engine);
  return made;
}
export const closeStartedEngines = () => Promise.all(startedEngines.splice(0).map((e) => e.close()));
