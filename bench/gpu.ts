/**
 * `npm run bench:gpu`: the real model on a GPU. Measures, in one run:
 *   - seconds per 1024×1024 Z-Image-Turbo image (8 steps) through the HTTP API (server +
 *     queue + Python worker + PNG encoding), against the same pipeline called directly in a
 *     bare Python script (bench/direct_pipeline.py);
 *   - images per second with n=4 on both paths, and the GPU memory each process peaks at;
 *   - the effect of ZIMAGE_COMPILE and of the attention backends (direct pipeline).
 * The direct pipeline runs with the offload mode the server resolved and the same helpers
 * (python/zimage_backend.py), so the difference is the server's own overhead.
 * Flags: --random-weights (real architecture, random weights: no download needed),
 *   --runs N (timed single images, default 3), --size N (default 1024), --no-variants.
 * Without torch or a GPU it says what is missing and exits 1. Writes no files.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import type { DiffusersEngine } from '../src/engines/diffusers/engine.js';
import { packageRoot, resolvePython } from '../src/engines/diffusers/options.js';
import { probeDiffusers } from '../src/engines/diffusers/probe.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const value = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const randomWeights = flag('--random-weights');
const runs = value('--runs', 3);
const size = value('--size', 1024);
const batch = 4;
const root = packageRoot();
const python = resolvePython(process.env.ZIMAGE_PYTHON ?? '', root);
const device = process.env.ZIMAGE_DEVICE || 'cuda';
const say = (msg: string) => process.stderr.write(`[bench:gpu] ${msg}\n`);
const round = (v: number | null | undefined, d = 3) => (v == null ? null : Math.round(v * 10 ** d) / 10 ** d);

/** Peak GPU memory of given processes, sampled with nvidia-smi (null where it is missing). */
class VramSampler {
  private peak = new Map<number, number>();
  private timer: NodeJS.Timeout;
  constructor(private pids: () => number[]) {
    this.timer = setInterval(() => this.sample(), 250);
  }
  private sample() {
    execFile('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], (err, out) => {
      if (err) return;
      for (const line of out.trim().split('\n')) {
        const [pid, mib] = line.split(',').map((s) => Number(s.trim()));
        if (this.pids().includes(pid)) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, mib));
      }
    });
  }
  stop(): number | null {
    clearInterval(this.timer);
    const values = [...this.peak.values()];
    return values.length ? round(Math.max(...values) / 1024, 2) : null;
  }
}

interface DirectResult {
  error?: string;
  seconds_per_image?: number;
  images_per_second_batch?: number;
  peak_vram_gb?: number;
  process_vram_gb?: number | null;
  [k: string]: unknown;
}

function direct(extra: string[]): Promise<DirectResult> {
  const args = [path.join(root, 'bench', 'direct_pipeline.py'), '--size', String(size), '--runs', String(runs), '--batch', String(batch), ...extra];
  if (randomWeights) args.push('--random-weights');
  say(`direct: ${python} ${args.slice(1).join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(python, args, { cwd: root, env: { ...process.env, HF_HUB_DISABLE_PROGRESS_BARS: '1', PYTHONDONTWRITEBYTECODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const vram = new VramSampler(() => (child.pid ? [child.pid] : []));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const process_vram_gb = vram.stop();
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) return resolve({ ...JSON.parse(line.slice(7)), process_vram_gb });
      resolve({ error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

async function viaHttp() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zimage-bench-gpu-'));
  const config = {
    ...loadConfig({ ...process.env, ZIMAGE_ENGINE: 'diffusers' }, []),
    port: 0, host: '127.0.0.1', dataDir, randomWeights, logLevel: 'warn', taskTimeoutSeconds: 3600,
  };
  const t0 = performance.now();
  const server = await startServer(config, { log: createLogger('warn') });
  const engine = server.engine as DiffusersEngine;
  const vram = new VramSampler(() => (engine.workerPid ? [engine.workerPid] : []));
  try {
    while (engine.state().state === 'loading') await new Promise((r) => setTimeout(r, 200));
    if (engine.state().state !== 'ready') throw new Error(`engine failed to load: ${engine.state().message}`);
    const loadSeconds = (performance.now() - t0) / 1000;
    const generate = async (n: number, seed: number) => {
      const started = performance.now();
      const res = await fetch(`${server.url}/v1/images/async_generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'A lighthouse on a rocky coast at dusk, photorealistic', size: `${size}x${size}`, n, seed }),
      });
      const { task_id: id } = (await res.json()) as { task_id: string };
      for (;;) {
        const task = (await (await fetch(`${server.url}/v1/images/tasks/${id}`)).json()) as { status: string; error?: unknown };
        if (task.status === 'completed') return (performance.now() - started) / 1000;
        if (task.status !== 'processing') throw new Error(`task ${id} ${task.status}: ${JSON.stringify(task.error)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await generate(1, 0); // warm-up through the whole path, both shapes (ZIMAGE_COMPILE may recompile for a new shape)
    await generate(batch, 50);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await generate(1, 1 + i));
    const batchSeconds = await generate(batch, 100);
    return {
      seconds_per_image: times.sort((a, b) => a - b)[Math.floor(times.length / 2)],
      all_seconds: times.map((t) => round(t, 4)),
      images_per_second_batch: batch / batchSeconds,
      process_vram_gb: vram.stop(),
      load_seconds: round(loadSeconds, 1),
      worker: engine.workerInfo,
    };
  } finally {
    vram.stop();
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const probe = await probeDiffusers({ python, pythonDir: path.join(root, 'python'), device });
  if (!probe.ok) {
    process.stderr.write(`bench:gpu needs the diffusers engine and a GPU: ${probe.message}\n  fix: ${probe.hint}\n`);
    process.exit(1);
  }
  say(`${probe.report?.device_name} (${probe.report?.free_vram_gb} GiB free), torch ${probe.report?.torch}, diffusers ${probe.report?.diffusers}${randomWeights ? ', RANDOM WEIGHTS' : ''}`);
  // HTTP first, then direct, one after the other (never both on the GPU at once): the direct
  // baseline then runs with the offload mode the server's worker resolved, not its own guess.
  const http = await viaHttp();
  say(`http: ${round(http.seconds_per_image)} s/image`);
  const offload = typeof http.worker.offload === 'string' ? http.worker.offload : 'auto';
  const bare = await direct(['--offload', offload]);
  if (bare.error) throw new Error(`direct pipeline failed: ${bare.error}`);
  say(`direct: ${round(bare.seconds_per_image)} s/image (offload ${bare.offload})`);
  const variants: Record<string, DirectResult> = {};
  if (!flag('--no-variants')) {
    variants['compile'] = await direct(['--offload', offload, '--compile']);
    variants['flash'] = await direct(['--offload', offload, '--attention', 'flash']);
    variants['_flash_3'] = await direct(['--offload', offload, '--attention', '_flash_3']);
  }
  const row = (name: string, r: { seconds_per_image?: number; images_per_second_batch?: number; process_vram_gb?: number | null; error?: string }) =>
    r.error
      ? `| ${name} | unavailable: ${r.error} | | |`
      : `| ${name} | ${round(r.seconds_per_image)} | ${round(r.images_per_second_batch)} | ${r.process_vram_gb ?? '?'} |`;
  const overhead = ((http.seconds_per_image - bare.seconds_per_image!) / bare.seconds_per_image!) * 100;
  process.stdout.write([
    `Z-Image-Turbo ${size}×${size}, 8 steps, ${probe.report?.device_name}, offload ${offload}${randomWeights ? ' (random weights)' : ''}`,
    '',
    `| path | s/image | images/s (n=${batch}) | peak process VRAM (GiB) |`,
    '| --- | --- | --- | --- |',
    row('direct pipeline (sdpa)', bare),
    row('HTTP API (sdpa)', http),
    ...Object.entries(variants).map(([k, v]) => row(`direct, ${k === 'compile' ? 'ZIMAGE_COMPILE' : `ZIMAGE_ATTENTION=${k}`}`, v)),
    '',
    `HTTP overhead per image: ${round(http.seconds_per_image - bare.seconds_per_image!)} s (${round(overhead, 1)} %); torch peak allocated (direct): ${bare.peak_vram_gb} GiB`,
    '',
  ].join('\n'));
  process.stdout.write(`${JSON.stringify({ size, steps: 8, batch, randomWeights, probe: probe.report, direct: bare, http, variants })}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench:gpu failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
