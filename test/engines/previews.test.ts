/**
 * Live previews at the engine level: the synthetic engine's unfinished pictures, the diffusers
 * engine's previews through the real Python worker and protocol (with the stdlib fake pipeline),
 * and the real backend's latent previewer checked with real torch where it is installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import { BANNER_BG } from '../../src/engines/synthetic/label.js';
import { encodePreview, PREVIEW_MAX_SIDE } from '../../src/images/preview.js';
import type { EngineContext, EnginePreview, Job } from '../../src/interfaces.js';
import sharp from 'sharp';
import { closeStartedEngines, job as diffusersJob, PYTHON_DIR, solid, started } from './diffusers-helpers.js';

after(closeStartedEngines);

function job(over: Partial<Job> = {}): Job {
  return { taskId: 't1', kind: 'generate', prompt: 'a red fox in the snow', width: 1024, height: 768, seeds: [42], steps: 8, ...over };
}

function collecting(every: number, signal = new AbortController().signal) {
  const previews: EnginePreview[] = [];
  const progress: number[] = [];
  const ctx: EngineContext = { signal, onProgress: (s) => progress.push(s), previewEvery: every, onPreview: (p) => previews.push(p) };
  return { ctx, previews, progress };
}

test('synthetic: a preview every N steps (none of the last), at most 256 px, labelled synthetic, converging on the image', async () => {
  const engine = new SyntheticEngine({ stepMs: 1 });
  const { ctx, previews } = collecting(2);
  const [image] = await engine.run(job(), ctx);
  assert.deepEqual(previews.map((p) => [p.step, p.total]), [[2, 8], [4, 8], [6, 8]]);
  for (const p of previews) {
    assert.deepEqual([p.image.width, p.image.height, p.image.channels], [256, 192, 3]);
    assert.equal(p.image.data.length, 256 * 192 * 3);
    // The synthetic banner is on every preview too: nobody can take it for model output.
    const o = (1 * 256 + 1) * 3;
    assert.deepEqual([...p.image.data.subarray(o, o + 3)], BANNER_BG);
  }
  // Each preview is closer to the finished picture (scaled down to the preview size) than the one before.
  const target = await sharp(image.data, { raw: { width: 1024, height: 768, channels: 3 } }).resize(256, 192, { fit: 'fill' }).raw().toBuffer();
  const distance = (data: Buffer) => {
    let sum = 0;
    // Rows between banner and footer text, where the picture is.
    for (let i = 256 * 3 * 40; i < 256 * 3 * 150; i++) sum += Math.abs(data[i] - target[i]);
    return sum;
  };
  const d = previews.map((p) => distance(p.image.data));
  assert.ok(d[0] > d[1] && d[1] > d[2], `previews converge: ${d}`);
  // An edit previews the (recoloured) input; a second image counts on from the first.
  const edit = collecting(3);
  await engine.run(job({ kind: 'edit', image: solid(64, 64, [200, 30, 30]), width: 512, height: 512, seeds: [1, 2], steps: 4 }), edit.ctx);
  assert.deepEqual(edit.previews.map((p) => p.step), [3, 6]);
  assert.deepEqual([edit.previews[0].image.width, edit.previews[0].image.height], [256, 256]);
});

test('synthetic: no previews without onPreview, with previewEvery 0, or at 0 ms per step (the benchmark engine stays free of them)', async () => {
  const none = collecting(0);
  await new SyntheticEngine({ stepMs: 1 }).run(job({ width: 256, height: 256 }), none.ctx);
  assert.equal(none.previews.length, 0);
  const fast = collecting(1);
  await new SyntheticEngine({ stepMs: 0 }).run(job({ width: 256, height: 256 }), fast.ctx);
  assert.equal(fast.previews.length, 0);
  assert.equal(fast.progress.length, 8);
});

test('encodePreview: WebP of at most 256 px on the long side, a few tens of KB at most', async () => {
  const [image] = await new SyntheticEngine({ stepMs: 0 }).run(job({ width: 2048, height: 512 }), collecting(0).ctx);
  const enc = await encodePreview(image);
  assert.deepEqual([enc.width, enc.height, enc.format], [PREVIEW_MAX_SIDE, 64, 'webp']);
  const meta = await sharp(enc.data).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 64]);
  assert.ok(enc.data.length < 40_000, `${enc.data.length} bytes`);
  const small = await encodePreview(solid(40, 30, [1, 2, 3]));
  assert.deepEqual([small.width, small.height], [40, 30], 'never enlarged');
});

test('diffusers: previews flow from the worker over the protocol every N steps; a batch counts over all its images', async () => {
  const { engine } = started();
  await engine.start();
  const one = collecting(2);
  const [image] = await engine.run(diffusersJob({ width: 256, height: 192, steps: 8 }), one.ctx);
  assert.equal(image.width, 256);
  // The fake's latents are height/8 x width/8 (Z-Image's); previews are sent one step after they are asked for.
  assert.deepEqual(one.previews.map((p) => [p.step, p.total, p.image.width, p.image.height]), [[2, 8, 32, 24], [4, 8, 32, 24], [6, 8, 32, 24]]);
  assert.ok(one.previews.every((p) => p.image.channels === 3 && p.image.data.length === 32 * 24 * 3));

  const big = collecting(3);
  await engine.run(diffusersJob({ width: 2048, height: 2048, steps: 6, seeds: [1, 2] }), big.ctx);
  assert.deepEqual(big.previews.map((p) => [p.step, p.total, p.image.width, p.image.height]), [[3, 6, 256, 256]],
    'one batched run of 6 steps; scaled to 256');

  const off = collecting(0);
  await engine.run(diffusersJob({ steps: 4 }), off.ctx);
  assert.equal(off.previews.length, 0);
  const noListener = await engine.run(diffusersJob({ steps: 4 }), { signal: new AbortController().signal, onProgress() {}, previewEvery: 1 });
  assert.equal(noListener.length, 1);
  assert.equal(engine.workerStarts, 1);
});

test('diffusers: a preview that fails to render never fails the job; it is logged once', async () => {
  const { engine, lines } = started();
  await engine.start();
  const bad = collecting(1);
  const images = await engine.run(diffusersJob({ prompt: 'a fox __badpreview__', steps: 4 }), bad.ctx);
  assert.equal(images.length, 1);
  assert.equal(bad.previews.length, 0);
  assert.equal(lines.filter((l) => /live preview failed/.test(l.msg)).length, 1);
  const good = collecting(1);
  await engine.run(diffusersJob({ steps: 4 }), good.ctx);
  assert.deepEqual(good.previews.map((p) => p.step), [1, 2, 3], 'the next job has previews again');
});

test('the real latent previewer (torch, CPU): denoised estimate, published RGB projection, scaling, other latents skipped', async (t) => {
  // ZIMAGE_TEST_TORCH_PYTHON: an interpreter with torch (CPU is enough); without one the check says "skip".
  const python = process.env.ZIMAGE_TEST_TORCH_PYTHON || 'python3';
  const { stdout } = await promisify(execFile)(python, [path.join(PYTHON_DIR, 'testing', 'preview_check.py')], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (stdout.startsWith('skip')) return t.skip(stdout.trim());
  assert.match(stdout, /^ok \d+/);
});
