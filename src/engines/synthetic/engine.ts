/**
 * The synthetic engine: labelled, deterministic test patterns instead of model output.
 * It lets the whole server (queue, progress, cancel, storage, API) run and be tested on
 * any machine, and with stepMs = 0 it is a zero-overhead engine for benchmarks.
 */
import { CanceledError, EngineError } from '../../errors.js';
import type { Engine, EngineContext, EngineState, Job, RawImage, TaskKind } from '../../interfaces.js';
import { previewSize } from '../../images/preview.js';
import { randomFrom, type Random } from './hash.js';
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
    // At 0 ms per step a task is over before anyone could see a preview: none are made, so the
    // benchmark engine stays free of their cost.
    const every = ctx.onPreview && this.stepMs > 0 ? Math.max(0, Math.floor(ctx.previewEvery ?? 0)) : 0;
    let done = 0;
    // The pattern at preview size, made once per image: later previews only pixelate it.
    let base: { seed: number; image: RawImage } | undefined;
    let over = false;
    try {
      for (const seed of job.seeds) {
        for (let step = 0; step < steps; step++) {
          if (ctx.signal.aborted) throw new CanceledError();
          if (this.stepMs > 0) await delay(this.stepMs, ctx.signal);
          ctx.onProgress(++done, total);
          // No preview of the last step: the finished image follows at once.
          if (every && done % every === 0 && done < total) {
            // Made while the next step "runs" (as a GPU makes its preview beside the model), not
            // between steps: the picture costs the task no time. Never after the run is over.
            const at = { step: done, fraction: (step + 1) / steps };
            setImmediate(() => {
              if (over || ctx.signal.aborted) return;
              if (base?.seed !== seed) base = { seed, image: this.previewBase(job, seed, steps) };
              ctx.onPreview!({ step: at.step, total, image: this.preview(job, seed, steps, at.fraction, at.step, base.image) });
            });
          }
        }
        if (ctx.signal.aborted) throw new CanceledError();
        images.push(this.render(job, seed, steps));
      }
    } finally {
      over = true;
    }
    return images;
  }

  /**
   * A visibly unfinished version of the image at preview size: the same pattern (or recoloured
   * input), pixelated and noisy in proportion to the steps left, labelled PREVIEW under the
   * synthetic banner. Small (at most 256 px), so it costs well under a millisecond or two.
   */
  private preview(job: Job, seed: number, steps: number, fraction: number, step: number, base: RawImage): RawImage {
    const size = previewSize(job.width, job.height);
    // Coarse at first, finer as the steps go by (an eighth of the preview size at the start).
    const scale = Math.max(0.125, fraction * fraction);
    const cw = Math.max(1, Math.round(size.width * scale));
    const ch = Math.max(1, Math.round(size.height * scale));
    const small = fitRgb(base, cw, ch);
    // An edit drifts from the input as it goes: its recolouring grows with the steps done.
    const coarse = job.kind === 'edit'
      ? recolour(small, (job.strength ?? DEFAULT_STRENGTH) * fraction, this.random(job, seed, steps))
      : small;
    const img = fitRgb(coarse, size.width, size.height);
    const data = img === coarse ? Buffer.from(coarse.data) : img.data;
    // Grey noise, deterministic per step, fading out as the image forms.
    const amount = Math.round(256 * (1 - fraction) * 0.7);
    let state = (seed ^ (step * 0x9e3779b1)) >>> 0 || 1;
    for (let i = 0; i < data.length; i += 3) {
      state ^= state << 13; state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5; state >>>= 0;
      const n = state & 255;
      for (let c = 0; c < 3; c++) data[i + c] = (data[i + c] * (256 - amount) + n * amount) >> 8;
    }
    const out: RawImage = { width: size.width, height: size.height, channels: 3, data };
    drawLabel(out, { body: `PREVIEW ${Math.round(fraction * 100)}%`, footer: `step ${step} | unfinished` });
    return out;
  }

  /** What previews of this image start from: the pattern at preview size (generate), or the input (edit). */
  private previewBase(job: Job, seed: number, steps: number): RawImage {
    const size = previewSize(job.width, job.height);
    return job.kind === 'edit' ? fitRgb(job.image!, size.width, size.height) : renderPlasma(size.width, size.height, this.random(job, seed, steps));
  }

  private random(job: Job, seed: number, steps: number): Random {
    const { width, height, prompt } = job;
    return randomFrom([
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
  }

  /** One image, a pure function of the job's parameters and the seed. */
  private render(job: Job, seed: number, steps: number): RawImage {
    const { width, height, prompt } = job;
    const rand = this.random(job, seed, steps);
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
