/**
 * Everything the diffusers engine needs, resolved from the configuration: the interpreter,
 * the worker script, per-model defaults, timeouts, and the environment for the worker.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config.js';
import type { TaskKind } from '../../interfaces.js';

export type Variant = 'turbo' | 'base';

export interface ModelDefaults {
  variant: Variant;
  /** Denoising steps that do work (transformer passes), whatever the diffusers version counts. */
  steps: number;
  guidanceScale: number;
  strength: number;
}

/**
 * From the model cards: Turbo is distilled for 8 steps without guidance (negative prompts then
 * have no effect); the base model wants 28–50 steps with CFG 3–5.
 */
export function modelDefaults(model: string, variant: 'auto' | Variant = 'auto'): ModelDefaults {
  const v: Variant = variant !== 'auto' ? variant : /turbo/i.test(path.basename(model) || model) ? 'turbo' : 'base';
  return v === 'turbo'
    ? { variant: v, steps: 8, guidanceScale: 0, strength: 0.6 }
    : { variant: v, steps: 50, guidanceScale: 4, strength: 0.6 };
}

/** The directory holding package.json (python/ and .venv/ live there). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'zimage-server') return dir;
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    dir = path.dirname(dir);
  }
  return process.cwd();
}

/** ZIMAGE_PYTHON, else the .venv that `npm run setup:gpu` makes, else python3 on PATH. */
export function resolvePython(configured: string, root = packageRoot()): string {
  if (configured) return configured;
  const venv = process.platform === 'win32' ? path.join(root, '.venv', 'Scripts', 'python.exe') : path.join(root, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

export interface DiffusersEngineOptions {
  python: string;
  pythonDir: string;
  model: string;
  editModel: string;
  device: string;
  defaults: ModelDefaults;
  editDefaults: ModelDefaults;
  cfgNormalization: boolean;
  startTimeoutMs: number;
  /** A running job with no progress for this long means a hung worker (0: never). */
  stallTimeoutMs: number;
  cancelGraceMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  /** Environment for the worker, on top of the server's own. */
  env: Record<string, string>;
}

export function engineOptionsFromConfig(config: Config): DiffusersEngineOptions {
  const root = packageRoot();
  const variant = config.modelVariant as 'auto' | Variant;
  return {
    python: resolvePython(config.python, root),
    pythonDir: path.join(root, 'python'),
    model: config.model,
    editModel: config.editModel,
    device: config.device,
    defaults: modelDefaults(config.model, variant),
    editDefaults: config.editModel ? modelDefaults(config.editModel) : modelDefaults(config.model, variant),
    cfgNormalization: config.cfgNormalization,
    startTimeoutMs: config.engineStartTimeoutSeconds * 1000,
    stallTimeoutMs: config.engineStallSeconds * 1000,
    cancelGraceMs: config.engineCancelGraceSeconds * 1000,
    heartbeatIntervalMs: 2000,
    heartbeatTimeoutMs: 60_000,
    restartBackoffMs: config.engineRestartBackoffSeconds * 1000,
    restartBackoffMaxMs: 60_000,
    env: {
      ZIMAGE_OFFLOAD: config.offload,
      ZIMAGE_COMPILE: config.compile ? '1' : '0',
      ZIMAGE_ATTENTION: config.attention,
      ZIMAGE_VAE_TILING: config.vaeTiling,
      ZIMAGE_RANDOM_WEIGHTS: config.randomWeights ? '1' : '0',
      ZIMAGE_WARMUP: config.warmup ? '1' : '0',
    },
  };
}

/** The worker's environment: the server's, then ours (the config wins over stray variables). */
export function workerEnv(opts: DiffusersEngineOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Download progress bars redraw with \r and would land in the log as one huge line.
    HF_HUB_DISABLE_PROGRESS_BARS: process.env.HF_HUB_DISABLE_PROGRESS_BARS ?? '1',
    TOKENIZERS_PARALLELISM: process.env.TOKENIZERS_PARALLELISM ?? 'false',
    PYTHONUNBUFFERED: '1',
    // No __pycache__ litter in the package's python/ directory.
    PYTHONDONTWRITEBYTECODE: '1',
    // Jobs of changing sizes fragment PyTorch's CUDA cache into blocks too small to reuse (OOM with
    // gigabytes "reserved but unallocated"); expandable segments grow in place instead. Unless the
    // user set either spelling (PYTORCH_ALLOC_CONF is the newer name).
    ...(process.env.PYTORCH_CUDA_ALLOC_CONF === undefined && process.env.PYTORCH_ALLOC_CONF === undefined
      ? { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' }
      : {}),
    ...opts.env,
    ZIMAGE_MODEL: opts.model,
    ZIMAGE_EDIT_MODEL: opts.editModel,
    ZIMAGE_DEVICE: opts.device,
    ZIMAGE_HEARTBEAT_SECONDS: String(opts.heartbeatIntervalMs / 1000),
  };
}

export function defaultsFor(opts: DiffusersEngineOptions, kind: TaskKind): ModelDefaults {
  return kind === 'edit' ? opts.editDefaults : opts.defaults;
}
