/**
 * What live previews cost (ZIMAGE_PREVIEW_EVERY), measured two ways:
 *   - `npm run bench -- --only=previews` (part of bench/run.ts): the synthetic engine sleeping
 *     stepMs per step, so a task's time is what a GPU step rate would give, and every
 *     millisecond previews add on the Node side (the WebP encode, the event, the SSE fan-out
 *     with its task read) shows up as task time. The synthetic picture itself is made while the
 *     next step waits, as a GPU makes its preview beside the model. The server runs in this
 *     process with one SSE watcher per task (the path a browser uses); configurations alternate
 *     round by round so drift on a shared machine hits them alike. Also: the cost of one preview.
 *   - `node dist/bench/previews.js --gpu` (after `npm run build`): the real model through the
 *     diffusers engine, engine.run() time per image with previews off, every 2 and every step
 *     (the Python side: latent projection, non-blocking copy, protocol frame). Needs torch and a
 *     GPU; without one it says so and exits 1.
 * The issue's bar: previews never slow a task by more than 2 %.
 */
import os from 'node:os';
import { pino } from 'pino';
import { SyntheticEngine } from '../src/engines/synthetic/engine.js';
import { encodePreview } from '../src/images/preview.js';
import type { EnginePreview, Job } from '../src/interfaces.js';
import { startServer } from '../src/server.js';
import { benchConfig, round } from './helpers.js';

export interface PreviewCost {
  /** Mean ms from a step's progress to its synthetic preview (made on the event loop while the next step waits). */
  syntheticRenderMs: number;
  /** Mean ms to encode one 256 px preview as WebP (sharp, off the event loop). */
  encodeMs: number;
  /** Mean encoded bytes of a synthetic preview (its noise compresses worse than a model's picture). */
  bytes: number;
  /** The same for a 128x128 latent-resolution picture, as the diffusers engine sends for 1024x1024. */
  latentEncodeMs: number;
  latentBytes: number;
}

export interface PreviewsReport {
  stepMs: number;
  steps: number;
  size: number;
  tasksPerConfig: number;
  /** Mean task seconds (engine start to completed), per ZIMAGE_PREVIEW_EVERY. */
  meanSeconds: Record<string, number>;
  /** Previews received by the SSE watchers per task, per setting. */
  previewsPerTask: Record<string, number>;
  /** Slowdown against previews off, in percent, per setting. */
  overheadPercent: Record<string, number>;
  cost: PreviewCost;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);

async function previewCost(): Promise<PreviewCost> {
  const engine = new SyntheticEngine({ stepMs: 1 });
  const job: Job = { taskId: 'bench', kind: 'generate', prompt: 'benchmark: previews', width: 1024, height: 1024, seeds: [1], steps: 64 };
  const previews: EnginePreview[] = [];
  let renderMs = 0;
  await engine.run(job, {
    signal: new AbortController().signal, onProgress() {}, previewEvery: 1,
    onPreview: (p) => previews.push(p),
  });
  // Render time: the engine's own previews again, timed alone (the run above includes sleeps).
  const timed = new SyntheticEngine({ stepMs: 1 });
  let last = performance.now();
  await timed.run({ ...job, steps: 32 }, {
    signal: new AbortController().signal,
    onProgress: () => { last = performance.now(); },
    previewEvery: 1,
    onPreview: () => { renderMs += performance.now() - last; },
  });
  const encodeTimes: number[] = [];
  const sizes: number[] = [];
  for (const p of previews) {
    const t = performance.now();
    const enc = await encodePreview(p.image);
    encodeTimes.push(performance.now() - t);
    sizes.push(enc.data.length);
  }
  // A latent-resolution picture (smooth, like a model's): 128x128 for a 1024x1024 image.
  const latent = Buffer.alloc(128 * 128 * 3);
  for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) latent.set([x * 2, y * 2, (x + y) & 255], (y * 128 + x) * 3);
  const latentTimes: number[] = [];
  let latentBytes = 0;
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    latentBytes = (await encodePreview({ width: 128, height: 128, channels: 3, data: latent })).data.length;
    latentTimes.push(performance.now() - t);
  }
  return {
    syntheticRenderMs: renderMs / 31,
    encodeMs: mean(encodeTimes),
    bytes: mean(sizes),
    latentEncodeMs: mean(latentTimes.slice(5)),
    latentBytes,
  };
}

/** One round: `tasks` tasks one after another on a fresh server with this setting; task seconds and previews seen. */
async function round1(every: number, o: { tasks: number; stepMs: number; size: number; steps: number }) {
  const server = await startServer(benchConfig({ syntheticStepMs: o.stepMs, previewEvery: every }), { log: pino({ level: 'silent' }) });
  try {
    const seconds: number[] = [];
    let previews = 0;
    for (let i = 0; i < o.tasks; i++) {
      let startedAt = 0;
      let finished!: (ms: number) => void;
      const done = new Promise<number>((r) => { finished = r; });
      const off = server.queue.subscribe((e) => {
        if (e.type === 'started') startedAt = performance.now();
        if (e.type === 'completed' || e.type === 'failed') finished(performance.now() - startedAt);
      });
      const res = await fetch(`${server.url}/v1/images/async_generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'benchmark: previews', size: `${o.size}x${o.size}`, num_inference_steps: o.steps, seed: i }),
      });
      const { task_id: id } = (await res.json()) as { task_id: string };
      // An SSE watcher, as a browser would hold: previews go through the event log to it.
      const events = await fetch(`${server.url}/v1/images/tasks/${id}/events`);
      const text = events.text().then((t) => (t.match(/^event: preview$/gm) ?? []).length);
      const ms = await done;
      off();
      previews += await text;
      seconds.push(ms / 1000);
    }
    return { seconds, previews };
  } finally {
    await server.close();
  }
}

export async function benchPreviews(o: { tasks: number; rounds: number; stepMs: number; size: number; steps: number }): Promise<PreviewsReport> {
  const settings = [0, 2, 1];
  const seconds: Record<string, number[]> = {};
  const previews: Record<string, number> = {};
  await round1(0, { ...o, tasks: 2 }); // warm-up: sharp, the JIT, the SQLite file cache
  for (let r = 0; r < o.rounds; r++) {
    for (const every of settings) {
      const res = await round1(every, o);
      (seconds[every] ??= []).push(...res.seconds);
      previews[every] = (previews[every] ?? 0) + res.previews;
    }
  }
  const meanSeconds = Object.fromEntries(settings.map((s) => [s, mean(seconds[s])]));
  const n = o.tasks * o.rounds;
  return {
    stepMs: o.stepMs, steps: o.steps, size: o.size, tasksPerConfig: n,
    meanSeconds,
    previewsPerTask: Object.fromEntries(settings.map((s) => [s, previews[s] / n])),
    overheadPercent: Object.fromEntries(settings.filter((s) => s !== 0).map((s) => [s, ((meanSeconds[s] - meanSeconds[0]) / meanSeconds[0]) * 100])),
    cost: await previewCost(),
  };
}

/** --gpu: the real engine, engine.run() per 1024x1024 image, previews off / every 2 / every step, interleaved. */
async function gpu(): Promise<void> {
  const { loadConfig } = await import('../src/config.js');
  const { createEngine } = await import('../src/engines/index.js');
  const config = { ...loadConfig({ ...process.env, ZIMAGE_ENGINE: 'diffusers' }, []), logLevel: 'warn' as const };
  const argv = process.argv.slice(2);
  const value = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const size = value('--size', 1024);
  const runs = value('--runs', 5);
  let engine;
  try {
    engine = await createEngine(config, pino({ level: 'warn' }));
  } catch (err) {
    process.stderr.write(`bench previews --gpu needs the diffusers engine and a GPU: ${(err as Error).message}\n`);
    process.exit(1);
  }
  await engine.start();
  const job: Job = { taskId: 'bench', kind: 'generate', prompt: 'A lighthouse on a rocky coast at dusk, photorealistic', width: size, height: size, seeds: [1] };
  const once = async (every: number, seed: number) => {
    let count = 0;
    const t = performance.now();
    await engine.run({ ...job, seeds: [seed] }, {
      signal: new AbortController().signal, onProgress() {},
      ...(every ? { previewEvery: every, onPreview: () => { count++; } } : {}),
    });
    return { seconds: (performance.now() - t) / 1000, previews: count };
  };
  await once(0, 0);
  await once(1, 0);
  const settings = [0, 2, 1];
  const times: Record<number, number[]> = { 0: [], 1: [], 2: [] };
  const counts: Record<number, number> = { 0: 0, 1: 0, 2: 0 };
  for (let r = 0; r < runs; r++) {
    for (const every of settings) {
      const res = await once(every, 100 + r);
      times[every].push(res.seconds);
      counts[every] = res.previews;
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(times[0]);
  const rows = settings.map((s) => `| ${s === 0 ? 'off' : `every ${s}`} | ${round(median(times[s]), 4)} | ${counts[s]} | ${s === 0 ? '-' : `${round(((median(times[s]) - base) / base) * 100, 2)} %`} |`);
  process.stdout.write([
    `Live preview overhead, diffusers engine, ${size}x${size}, default steps, median of ${runs} (engine.run per image)`,
    '', '| previews | s/image | previews/image | vs off |', '| --- | --- | --- | --- |', ...rows, '',
  ].join('\n'));
  process.stdout.write(`${JSON.stringify({ size, runs, times, counts, worker: (engine as { workerInfo?: unknown }).workerInfo })}\n`);
  await engine.close();
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  if (process.argv.includes('--gpu')) {
    await gpu();
  } else {
    const r = await benchPreviews({ tasks: 6, rounds: 3, stepMs: 50, size: 1024, steps: 8 });
    process.stdout.write(`${JSON.stringify({ cpus: os.cpus().length, ...r })}\n`);
  }
}
