/**
 * A fast check (python/probe.py) of what the diffusers engine needs: the interpreter,
 * torch, diffusers with ZImagePipeline, transformers, accelerate, and the requested device. It decides `auto`, and
 * makes `ZIMAGE_ENGINE=diffusers` fail in seconds with what is missing and how to fix it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

export interface ProbeReport {
  python?: string;
  torch?: string | null;
  cuda_available?: boolean;
  device?: string;
  device_ok?: boolean;
  device_name?: string | null;
  free_vram_gb?: number | null;
  diffusers?: string | null;
  transformers?: string | null;
  accelerate?: string | null;
  has_zimage?: boolean;
  has_img2img?: boolean;
  has_inpaint?: boolean;
  errors?: string[];
}

export interface ProbeOutcome {
  ok: boolean;
  report: ProbeReport | null;
  /** Short names of what is missing, for logs and the `auto` warning. */
  missing: string[];
  message: string;
  hint: string;
}

export interface ProbeOptions {
  python: string;
  pythonDir: string;
  device: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

const SETUP_HINT =
  'run "npm run setup:gpu" (creates .venv with torch and diffusers from python/requirements.txt), ' +
  'or set ZIMAGE_PYTHON to an interpreter that has them';

function gpuHint(device: string): string {
  return device.startsWith('mps')
    ? 'MPS needs Apple silicon and a torch build with MPS; or set ZIMAGE_DEVICE=cpu (very slow) or ZIMAGE_ENGINE=synthetic'
    : 'check the NVIDIA driver (nvidia-smi) and that torch is a CUDA build (npm run setup:gpu installs one); ' +
        'or set ZIMAGE_DEVICE=cpu (very slow) or ZIMAGE_ENGINE=synthetic';
}

/** What the report says is missing, each with the fix that applies. */
export function assessProbe(report: ProbeReport, device: string): { missing: string[]; hints: string[] } {
  const missing: string[] = [];
  const hints = new Set<string>();
  if (!report.torch) {
    missing.push('torch');
    hints.add(SETUP_HINT);
  }
  if (!report.diffusers) {
    missing.push('diffusers');
    hints.add(SETUP_HINT);
  } else if (!report.has_zimage) {
    missing.push(`ZImagePipeline (diffusers ${report.diffusers} is too old; 0.36 or newer needed)`);
    hints.add(SETUP_HINT);
  }
  // The pipeline's text encoder comes from transformers; accelerate does the loading and offload.
  for (const name of ['transformers', 'accelerate'] as const) {
    if (!report[name]) {
      missing.push(name);
      hints.add(SETUP_HINT);
    }
  }
  if (report.torch && !report.device_ok) {
    const why = device.startsWith('cuda') && !report.cuda_available ? 'torch.cuda.is_available() is false' : (report.errors ?? []).join('; ');
    missing.push(`device ${device}${why ? ` (${why})` : ''}`);
    hints.add(gpuHint(device));
  }
  return { missing, hints: [...hints] };
}

export function probeDiffusers(opts: ProbeOptions): Promise<ProbeOutcome> {
  const script = path.join(opts.pythonDir, 'probe.py');
  return new Promise((resolve) => {
    execFile(
      opts.python,
      [script, opts.device],
      { timeout: opts.timeoutMs ?? 25_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...opts.env }, cwd: opts.pythonDir, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const fail = (message: string, hint = SETUP_HINT, missing = ['python environment']) =>
          resolve({ ok: false, report: null, missing, message, hint });
        const code = (err as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT' || code === 'EACCES') {
          return fail(`cannot run the Python interpreter "${opts.python}" (${code})`, SETUP_HINT, [`Python interpreter ${opts.python}`]);
        }
        if (err && (err as { killed?: boolean }).killed) {
          return fail(`the environment check (${opts.python} python/probe.py) did not answer within ${(opts.timeoutMs ?? 25_000) / 1000} s`);
        }
        let report: ProbeReport;
        try {
          report = JSON.parse(stdout.trim().split('\n').pop() ?? '');
        } catch {
          const tail = stderr.trim().split('\n').slice(-3).join(' | ');
          return fail(`the environment check (${opts.python} python/probe.py) failed${tail ? `: ${tail}` : ''}`);
        }
        const { missing, hints } = assessProbe(report, opts.device);
        if (!missing.length) return resolve({ ok: true, report, missing, message: 'ok', hint: '' });
        resolve({
          ok: false,
          report,
          missing,
          message: `the diffusers engine cannot run with ${opts.python} (Python ${report.python ?? '?'}): missing ${missing.join(', ')}`,
          hint: hints.join('; '),
        });
      },
    );
  });
}
