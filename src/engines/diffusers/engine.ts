/**
 * The real engine: Z-Image through a supervised Python diffusers worker.
 * This side owns the job: it sends one `run` frame, turns frames into progress and
 * RawImages, turns an aborted signal into a cancel (and a kill if the worker does not
 * stop in time), and turns a dead or stalled worker into a retryable `engine_crashed`.
 */
import path from 'node:path';
import { CanceledError, EngineError } from '../../errors.js';
import type { Engine, EngineContext, EngineState, Job, RawImage, TaskKind } from '../../interfaces.js';
import type { Logger } from '../../log.js';
import { PREVIEW_MAX_SIDE } from '../../images/preview.js';
import { defaultsFor, workerEnv, type DiffusersEngineOptions } from './options.js';
import type { FrameHeader } from './protocol.js';
import { describeExit, Supervisor } from './supervisor.js';
import { WorkerProcess, type WorkerExit } from './worker-process.js';

interface ActiveJob {
  id: string;
  job: Job;
  ctx: EngineContext;
  images: RawImage[];
  aborted: boolean;
  lastProgressAt: number;
  settle: (err: Error | null) => void;
}

/** Masks become one channel, 255 = repaint (diffusers' convention). RGBA masks follow OpenAI's:
 * transparent pixels are the ones to edit, unless the alpha is fully opaque (then luminance counts). */
export function maskToGray(mask: RawImage): Buffer {
  const n = mask.width * mask.height;
  const out = Buffer.alloc(n);
  const c = mask.channels;
  let alphaUsed = false;
  if (c === 4) for (let i = 0; i < n && !alphaUsed; i++) alphaUsed = mask.data[i * 4 + 3] !== 255;
  for (let i = 0; i < n; i++) {
    const p = i * c;
    out[i] = alphaUsed ? 255 - mask.data[p + 3] : (mask.data[p] * 299 + mask.data[p + 1] * 587 + mask.data[p + 2] * 114) / 1000;
  }
  return out;
}

export class DiffusersEngine implements Engine {
  readonly name = 'diffusers';
  readonly synthetic = false;
  private readonly sup: Supervisor;
  private active: ActiveJob | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private seq = 0;

  constructor(
    private readonly opts: DiffusersEngineOptions,
    private readonly log: Logger,
  ) {
    const workerLog = log.child({ component: 'zimage-worker' });
    this.sup = new Supervisor({
      spawn: () =>
        new WorkerProcess({
          python: opts.python,
          script: path.join(opts.pythonDir, 'zimage_worker.py'),
          cwd: opts.pythonDir,
          env: workerEnv(opts),
          log: workerLog,
        }),
      log,
      model: opts.model,
      device: opts.device,
      startTimeoutMs: opts.startTimeoutMs,
      heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
      restartBackoffMs: opts.restartBackoffMs,
      restartBackoffMaxMs: opts.restartBackoffMaxMs,
    });
    this.sup.listener = { onFrame: (h, p) => this.onFrame(h, p), onExit: (e, t) => this.onExit(e, t) };
  }

  state(): EngineState {
    return this.sup.state();
  }

  start(): Promise<void> {
    return this.sup.start();
  }

  defaultSteps(kind: TaskKind): number {
    return defaultsFor(this.opts, kind).steps;
  }

  /** What the worker reported when ready: offload, steps semantics, diffusers version... */
  get workerInfo(): Record<string, unknown> {
    return this.sup.info;
  }

  get workerPid(): number | undefined {
    return this.sup.current?.pid;
  }

  /** Worker processes started so far (1 + restarts). */
  get workerStarts(): number {
    return this.sup.starts;
  }

  run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    try {
      validate(job);
    } catch (err) {
      return Promise.reject(err);
    }
    if (ctx.signal.aborted) return Promise.reject(new CanceledError());
    // One job at a time: the worker runs one pipeline call at a time anyway.
    const result = this.tail.then(() => this.runNow(job, ctx));
    this.tail = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.active?.settle(new EngineError('engine_closed', 'the server is shutting down', true));
    await this.sup.close();
  }

  private async runNow(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    if (ctx.signal.aborted) throw new CanceledError();
    let proc = await this.sup.whenReady(ctx.signal);
    while (!proc.alive) proc = await this.sup.whenReady(ctx.signal);
    if (ctx.signal.aborted) throw new CanceledError();
    const id = `${job.taskId}:${++this.seq}`;
    const { header, parts } = this.runFrame(id, job, ctx.onPreview ? Math.max(0, Math.floor(ctx.previewEvery ?? 0)) : 0);
    return new Promise<RawImage[]>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const onAbort = () => {
        if (!this.active || this.active.id !== id) return;
        this.active.aborted = true;
        this.sup.current?.send({ type: 'cancel', id });
        // The pipeline stops at the next step; a worker stuck inside one is killed instead.
        const grace = setTimeout(
          () => this.sup.kill(`the worker did not stop within ZIMAGE_ENGINE_CANCEL_GRACE_SECONDS (${this.opts.cancelGraceMs / 1000} s) of a cancel`),
          this.opts.cancelGraceMs,
        );
        timers.push(grace);
      };
      const active: ActiveJob = {
        id,
        job,
        ctx,
        images: [],
        aborted: false,
        lastProgressAt: Date.now(),
        settle: (err) => {
          if (this.active !== active) return;
          this.active = null;
          for (const t of timers) clearTimeout(t);
          ctx.signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(active.images);
        },
      };
      this.active = active;
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      if (this.opts.stallTimeoutMs > 0) {
        const every = Math.max(50, Math.min(1000, this.opts.stallTimeoutMs / 4));
        const stall = setInterval(() => {
          const idle = Date.now() - active.lastProgressAt;
          if (!active.aborted && idle > this.opts.stallTimeoutMs) {
            this.sup.kill(`no progress for ${Math.round(idle / 1000)} s (ZIMAGE_ENGINE_STALL_SECONDS): the worker is hung`);
          }
        }, every);
        timers.push(stall);
      }
      proc.send(header, parts);
    });
  }

  /** The run frame; the payload parts are the request's own pixel buffers, written without copies. */
  private runFrame(id: string, job: Job, previewEvery: number): { header: FrameHeader; parts: Buffer[] } {
    const d = defaultsFor(this.opts, job.kind);
    const parts: Buffer[] = [];
    const header: FrameHeader = {
      type: 'run',
      id,
      job: {
        kind: job.kind,
        prompt: job.prompt,
        negative_prompt: job.negativePrompt ?? null,
        width: job.width,
        height: job.height,
        seeds: job.seeds,
        steps: job.steps ?? d.steps,
        guidance_scale: job.guidanceScale ?? d.guidanceScale,
        strength: job.strength ?? (job.mask ? 1.0 : d.strength),
        cfg_normalization: this.opts.cfgNormalization,
        // Steps between latent previews (0: none); the worker decodes them cheaply and scales
        // them to at most PREVIEW_MAX_SIDE.
        preview_every: previewEvery,
        preview_max_side: PREVIEW_MAX_SIDE,
      },
    };
    if (job.kind === 'edit' && job.image) {
      const img = job.image;
      header.image = { width: img.width, height: img.height, channels: img.channels, length: img.data.length };
      parts.push(img.data);
      if (job.mask) {
        const gray = maskToGray(job.mask);
        header.mask = { width: job.mask.width, height: job.mask.height, channels: 1, length: gray.length };
        parts.push(gray);
      }
    }
    return { header, parts };
  }

  private onFrame(header: FrameHeader, payload: Buffer): void {
    const active = this.active;
    if (!active || header.id !== active.id) return;
    switch (header.type) {
      case 'progress':
        active.lastProgressAt = Date.now();
        try {
          active.ctx.onProgress(Number(header.step), Number(header.total));
        } catch (err) {
          this.log.warn({ err }, 'progress listener failed');
        }
        return;
      case 'preview': {
        const { width, height, step, total } = header as unknown as { width: number; height: number; step: number; total: number };
        const ok = Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 &&
          width <= PREVIEW_MAX_SIDE * 2 && height <= PREVIEW_MAX_SIDE * 2 && payload.length === width * height * 3;
        if (!ok) {
          this.sup.kill(`protocol error: unexpected preview frame ${JSON.stringify(header)} (${payload.length} bytes)`);
          return;
        }
        // A preview is not progress: the stall watchdog goes by steps only.
        if (!active.aborted && active.ctx.onPreview) {
          try {
            active.ctx.onPreview({ step: Number(step), total: Number(total), image: { width, height, channels: 3, data: payload } });
          } catch (err) {
            this.log.warn({ err }, 'preview listener failed');
          }
        }
        return;
      }
      case 'image': {
        const { width, height, index, seed } = header as unknown as { width: number; height: number; index: number; seed: number };
        if (width !== active.job.width || height !== active.job.height || payload.length !== width * height * 3 || seed !== active.job.seeds[index]) {
          this.sup.kill(`protocol error: unexpected image frame ${JSON.stringify(header)} (${payload.length} bytes)`);
          return;
        }
        active.images[index] = { width, height, channels: 3, data: payload };
        return;
      }
      case 'done':
        if (active.aborted) return active.settle(new CanceledError());
        if (active.images.filter(Boolean).length !== active.job.seeds.length) {
          return active.settle(new EngineError('engine_error', `the worker returned ${active.images.length} of ${active.job.seeds.length} images`, false));
        }
        this.sup.noteSuccess();
        return active.settle(null);
      case 'canceled':
        return active.settle(new CanceledError());
      case 'error':
        if (header.code === 'engine_crashed') this.sup.retire();
        if (active.aborted) return active.settle(new CanceledError());
        return active.settle(this.jobError(header, active.job));
    }
  }

  private jobError(header: FrameHeader, job: Job): EngineError {
    const code = String(header.code ?? 'engine_error');
    const detail = String(header.message ?? '');
    if (code === 'out_of_memory') {
      const many = job.seeds.length > 1 ? ` × ${job.seeds.length} images` : '';
      return new EngineError(
        'out_of_memory',
        `out of GPU memory at ${job.width}×${job.height}${many}: try a smaller size or fewer images, ` +
          `or set ZIMAGE_OFFLOAD=model (or sequential) to trade speed for memory (${detail})`,
        false,
      );
    }
    return new EngineError(code, detail || code, header.retryable === true);
  }

  private onExit(exit: WorkerExit, stderrTail: string[]): void {
    const active = this.active;
    if (!active) return;
    if (active.aborted) return active.settle(new CanceledError());
    // Quote what looks like the cause (a traceback, a fatal message), not routine INFO lines.
    const tail = stderrTail.filter((l) => !/^(INFO|DEBUG) /.test(l)).slice(-3).join(' | ');
    active.settle(
      new EngineError('engine_crashed', `${describeExit(exit)} while running the task${tail ? ` (stderr: ${tail})` : ''}; the worker is restarting`, true),
    );
  }
}

function validate(job: Job): void {
  if (job.width % 16 || job.height % 16 || job.width < 16 || job.height < 16) {
    throw new EngineError('invalid_size', `Z-Image needs width and height in multiples of 16; got ${job.width}×${job.height}`, false);
  }
  if (!job.seeds.length) throw new EngineError('invalid_request', 'a job needs at least one seed', false);
  if (job.kind === 'edit' && !job.image) throw new EngineError('invalid_request', 'an edit needs an input image', false);
}
