import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanceledError, EngineError } from '../../src/errors.js';
import type { EngineContext, Job, RawImage } from '../../src/interfaces.js';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import { BANNER_BG, BANNER_FG } from '../../src/engines/synthetic/label.js';
import { randomFrom } from '../../src/engines/synthetic/hash.js';
import { renderPlasma } from '../../src/engines/synthetic/pattern.js';

const fast = new SyntheticEngine({ stepMs: 0 });

function job(over: Partial<Job> = {}): Job {
  return { taskId: 't1', kind: 'generate', prompt: 'a red fox in the snow', width: 64, height: 64, seeds: [42], ...over };
}

function ctx(onProgress: EngineContext['onProgress'] = () => {}, signal = new AbortController().signal): EngineContext {
  return { onProgress, signal };
}

function solid(width: number, height: number, rgb: [number, number, number]): RawImage {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, channels: 3, data };
}

function differingPixels(a: RawImage, b: RawImage): number {
  let n = 0;
  for (let i = 0; i < a.data.length; i += 3) {
    if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2]) n++;
  }
  return n;
}

function isColour(img: RawImage, x: number, y: number, rgb: readonly number[]): boolean {
  const o = (y * img.width + x) * 3;
  return img.data[o] === rgb[0] && img.data[o + 1] === rgb[1] && img.data[o + 2] === rgb[2];
}

test('reports itself as a ready, synthetic, non-model engine', async () => {
  assert.equal(fast.name, 'synthetic');
  assert.equal(fast.synthetic, true);
  assert.deepEqual(fast.state(), {
    state: 'ready',
    model: 'synthetic-test-pattern',
    message: 'synthetic test-pattern engine (not a model)',
  });
  assert.match(new SyntheticEngine({ stepMs: 0, fallback: true }).state().message!, /fell back.*npm run setup:gpu/);
  assert.equal(fast.defaultSteps('generate'), 8);
  assert.equal(fast.defaultSteps('edit'), 8);
  await fast.start();
  await fast.close();
});

test('returns one RGB image per seed, at exactly the requested size', async () => {
  const images = await fast.run(job({ width: 320, height: 200, seeds: [1, 2, 3] }), ctx());
  assert.equal(images.length, 3);
  for (const img of images) {
    assert.deepEqual([img.width, img.height, img.channels, img.data.length], [320, 200, 3, 320 * 200 * 3]);
  }
  assert.ok(differingPixels(images[0], images[1]) > 320 * 200 * 0.5, 'seeds give different images');
});

test('is deterministic: the same job gives identical bytes', async () => {
  const params = job({ width: 200, height: 150, negativePrompt: 'blurry', guidanceScale: 3.5, steps: 4 });
  const [a] = await fast.run(params, ctx());
  const [b] = await new SyntheticEngine({ stepMs: 0 }).run({ ...params, taskId: 'other' }, ctx());
  assert.deepEqual(a.data, b.data);
});

test('different prompts and settings give visibly different images', async () => {
  const [fox] = await fast.run(job({ width: 128, height: 128 }), ctx());
  const [cat] = await fast.run(job({ width: 128, height: 128, prompt: 'a cat on a sofa' }), ctx());
  const [guided] = await fast.run(job({ width: 128, height: 128, guidanceScale: 7 }), ctx());
  assert.ok(differingPixels(fox, cat) > 128 * 128 * 0.5);
  assert.ok(differingPixels(fox, guided) > 128 * 128 * 0.5);
});

test('reports progress across all images, monotonic and ending at the total', async () => {
  const calls: Array<[number, number]> = [];
  await fast.run(job({ steps: 5, seeds: [1, 2] }), ctx((step, total) => calls.push([step, total])));
  assert.deepEqual(calls, Array.from({ length: 10 }, (_, i) => [i + 1, 10]));

  const defaults: number[] = [];
  await fast.run(job(), ctx((step, total) => defaults.push(step * 100 + total)));
  assert.equal(defaults.length, 8);
  assert.equal(defaults.at(-1), 808);
});

test('aborting mid-run throws CanceledError within a step', async () => {
  const engine = new SyntheticEngine({ stepMs: 50 });
  const ac = new AbortController();
  let steps = 0;
  let abortedAt = 0;
  const onProgress = () => {
    // Abort 10 ms into the 4th step's 50 ms wait: the wait must end early, not run on.
    if (++steps === 3) setTimeout(() => ((abortedAt = Date.now()), ac.abort()), 10);
  };
  await assert.rejects(engine.run(job({ steps: 100 }), ctx(onProgress, ac.signal)), CanceledError);
  assert.equal(steps, 3);
  // 100 steps would take 5 s; the generous bound only guards against a missed abort.
  assert.ok(Date.now() - abortedAt < 1000, `took ${Date.now() - abortedAt} ms after abort`);
});

test('an already-aborted signal throws before any step', async () => {
  const ac = new AbortController();
  ac.abort();
  let steps = 0;
  await assert.rejects(fast.run(job(), ctx(() => steps++, ac.signal)), CanceledError);
  assert.equal(steps, 0);
});

test('stepMs 0 schedules no timers at all', async () => {
  const original = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return original(...args);
  }) as typeof setTimeout;
  try {
    const images = await fast.run(job({ steps: 20, seeds: [1, 2] }), ctx());
    assert.equal(images.length, 2);
  } finally {
    globalThis.setTimeout = original;
  }
  assert.equal(timers, 0);
});

test('every image carries the SYNTHETIC banner at the top', async () => {
  for (const [width, height] of [[256, 256], [1024, 768], [2048, 2048], [64, 64]]) {
    const [img] = await fast.run(job({ width, height }), ctx());
    // The banner strip starts on row 0: a whole row of exactly the banner colour,
    // which the smooth plasma never produces across a full row.
    for (let x = 0; x < width; x++) assert.ok(isColour(img, x, 0, BANNER_BG), `row 0, x ${x} at ${width}x${height}`);
    // The banner letters appear within the top 10% (at least 30 px) of the image.
    let letters = 0;
    for (let y = 0; y < Math.max(30, height / 10); y++) {
      for (let x = 0; x < width; x++) if (isColour(img, x, y, BANNER_FG)) letters++;
    }
    assert.ok(letters > 100, `${letters} banner letter pixels at ${width}x${height}`);
  }
  const plain = renderPlasma(256, 256, randomFrom(['x']));
  let sameAsBanner = 0;
  for (let x = 0; x < 256; x++) if (isColour(plain, x, 0, BANNER_BG)) sameAsBanner++;
  assert.ok(sameAsBanner < 256, 'a bare pattern has no banner row');
});

test('edit output derives from the uploaded image', async () => {
  const edit = (image: RawImage) => job({ kind: 'edit', prompt: 'make it pop', width: 256, height: 256, image, strength: 0.6 });
  const red = solid(256, 256, [220, 30, 30]);
  const blue = solid(256, 256, [30, 30, 220]);
  const [fromRed] = await fast.run(edit(red), ctx());
  const [fromBlue] = await fast.run(edit(blue), ctx());
  assert.ok(differingPixels(fromRed, fromBlue) > 256 * 256 * 0.5, 'red and blue inputs give different outputs');
  assert.deepEqual([...red.data.subarray(0, 3)], [220, 30, 30], 'the input is not modified');

  // A horizontal black-to-white ramp: output brightness must follow input brightness.
  const ramp = solid(256, 256, [0, 0, 0]);
  for (let i = 0; i < 256 * 256; i++) ramp.data.fill(Math.round(((i % 256) * 255) / 255), i * 3, i * 3 + 3);
  const [out] = await fast.run(edit(ramp), ctx());
  const lum = (img: RawImage, i: number) => 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2];
  const xs: number[] = [];
  const ys: number[] = [];
  // Rows 40..100 lie between the banner and the centred prompt text.
  for (let i = 40 * 256 * 3; i < 100 * 256 * 3; i += 3) {
    xs.push(lum(ramp, i));
    ys.push(lum(out, i));
  }
  assert.ok(correlation(xs, ys) > 0.9, `correlation ${correlation(xs, ys)}`);
  // A generated pattern for the same prompt does not follow the ramp, so the correlation comes from the upload.
  const [plain] = await fast.run(job({ width: 256, height: 256, prompt: 'make it pop' }), ctx());
  const plainLum = Array.from({ length: xs.length }, (_, k) => lum(plain, 40 * 256 * 3 + k * 3));
  assert.ok(Math.abs(correlation(xs, plainLum)) < 0.5, `pattern correlation ${correlation(xs, plainLum)}`);
});

test('edit resizes a mismatched input and needs an image', async () => {
  const [out] = await fast.run(job({ kind: 'edit', width: 80, height: 40, image: solid(20, 20, [0, 200, 0]) }), ctx());
  assert.deepEqual([out.width, out.height, out.data.length], [80, 40, 80 * 40 * 3]);
  await assert.rejects(fast.run(job({ kind: 'edit' }), ctx()), EngineError);
});

function correlation(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}
