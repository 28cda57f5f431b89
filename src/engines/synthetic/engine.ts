/**
 * The synthetic engine: labelled, deterministic test patterns instead of model output.
 * It lets the whole server (queue, progress, cancel, storage, API) run and be tested on
 * any machine, and with stepMs = 0 it is a zero-overhead engine for benchmarks.
 */
import { CanceledError, EngineError } from '../../errors.js';
import type { Engine, EngineContext, EngineState, Job, RawImage, TaskKind } from '../../interfaces.js';
import { randomFrom } from './hash.js';
import { drawLabel } from './label.js';
import { fitRgb, recolour, renderPlasma } from './pattern.js';

const DEFAULT_STEPS = 8;
const DEFAULT_STRENGTH = 0.6;

export interface SyntheticEngineOptions {
  /** Simulated time per denoising step; 0 skips timers entirely. */
  stepMs: number;
  /** True when ZIMAGE_ENGINE=auto chose this engine because the real one cannot run. */
  fallback?: boolean;
}

/** Resolves after ms, or rejects with CanceledError as soon as the signal aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CanceledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CanceledError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class SyntheticEngine implements Engine {
  readonly name = 'synthetic';
  readonly synthetic = true;
  private readonly stepMs: number;
  private readonly fallback: boolean;

  constructor(opts: SyntheticEngineOptions) {
    this.stepMs = Math.max(0, opts.stepMs);
    this.fallback = opts.fallback ?? false;
  }

  state(): EngineState {
    return {
      state: 'ready',
      model: 'synthetic-test-pattern',
      message: this.fallback
        ? 'ZIMAGE_ENGINE=auto fell back to the synthetic engine: images are test patterns, not model output. ' +
          'Run "npm run setup:gpu" for the real model.'
        : 'synthetic test-pattern engine (not a model)',
    };
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}

  defaultSteps(_kind: TaskKind): number {
    return DEFAULT_STEPS;
  }

  async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    const { width, height } = job;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new EngineError('invalid_size', `image size ${width}x${height} is not a positive integer size`, false);
    }
    if (job.kind === 'edit' && !job.image) {
      throw new EngineError('missing_input', 'an edit job needs an input image', false);
    }
    const steps = Math.max(1, Math.floor(job.steps ?? DEFAULT_STEPS));
    const total = steps * job.seeds.length;
    const images: RawImage[] = [];
    let done = 0;
    for (const seed of job.seeds) {
      for (let step = 0; step < steps; step++) {
        if (ctx.signal.aborted) throw new CanceledError();
        if (this.stepMs > 0) await delay(this.stepMs, ctx.signal);
        ctx.onProgress(++done, total);
      }
      if (ctx.signal.aborted) throw new CanceledError();
      images.push(this.render(job, seed, steps));
    }
    return images;
  }

  /** One image, a pure function of the job's parameters and the seed. */
  private render(job: Job, seed: number, steps: number): RawImage {
    const { width, height, prompt } = job;
    const rand = randomFrom([
      job.kind,
      prompt,
      job.negativePrompt ?? '',
      seed,
      width,
      height,
      steps,
      job.guidanceScale ?? null,
      job.kind === 'edit' ? (job.strength ?? DEFAULT_STRENGTH) : null,
    ]);
    const settings = `seed ${seed} | ${width}x${height} | ${steps} steps`;
    if (job.kind === 'edit') {
      const strength = job.strength ?? DEFAULT_STRENGTH;
      // The caller resizes uploads to the job size; a nearest-neighbour copy covers any mismatch.
      const img = recolour(fitRgb(job.image!, width, height), strength, rand);
      drawLabel(img, { body: `EDIT: ${prompt}`, footer: `${settings} | strength ${strength}`, bodyAt: 'top' });
      return img;
    }
    const img = renderPlasma(width, height, rand);
    drawLabel(img, { body: prompt, footer: settings });
    return img;
  }
}
