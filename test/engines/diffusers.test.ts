/**
 * The diffusers engine end to end at the engine level: the real TypeScript supervisor
 * and the real python/zimage_worker.py, with the stdlib-only fake pipeline standing in
 * for torch (python/testing/fake_pipeline.py).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Config } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { maskToGray } from '../../src/engines/diffusers/engine.js';
import { encodeFrame, FrameDecoder, ProtocolError } from '../../src/engines/diffusers/protocol.js';
import { createEngine } from '../../src/engines/index.js';
import { CanceledError, EngineError, EngineUnavailableError } from '../../src/errors.js';
import type { RawImage } from '../../src/interfaces.js';
import { captureLog, closeStartedEngines, ctx, FAKE, job, rejection, solid, started, waitFor } from './diffusers-helpers.js';

after(closeStartedEngines);

test('protocol: frames survive arbitrary chunking; garbage on stdout is a loud error', () => {
  const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256));
  const bytes = Buffer.concat([...encodeFrame({ type: 'image', id: 'a' }, payload), ...encodeFrame({ type: 'done', id: 'a' })]);
  for (const size of [1, 7, 12, 4096, bytes.length]) {
    const dec = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i += size) frames.push(...dec.push(bytes.subarray(i, i + size)));
    assert.deepEqual(frames.map((f) => f.header.type), ['image', 'done']);
    assert.ok(frames[0].payload.equals(payload));
    assert.equal(frames[1].payload.length, 0);
  }
  assert.throws(() => new FrameDecoder().push(Buffer.from('hello from a stray print\n')), ProtocolError);
});

test('protocol: payload parts are written as they are; a big frame in tiny pieces decodes in linear time', () => {
  const image = Buffer.alloc(300_000, 7);
  const mask = Buffer.alloc(1000, 255);
  const parts = encodeFrame({ type: 'run', id: 'r' }, [image, mask]);
  assert.ok(parts[2] === image && parts[3] === mask, 'no copies of the pixels');
  const bytes = Buffer.concat(parts);
  const dec = new FrameDecoder();
  const t0 = Date.now();
  const frames = [];
  // Pieces smaller than the 12-byte prefix: re-joining everything on each push would take minutes.
  for (let i = 0; i < bytes.length; i += 5) frames.push(...dec.push(bytes.subarray(i, i + 5)));
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  assert.equal(frames.length, 1);
  assert.ok(frames[0].payload.equals(Buffer.concat([image, mask])));
});

test('generates n images with their seeds, reports progress, and is deterministic', async () => {
  const { engine } = started();
  assert.equal(engine.state().state, 'loading');
  await engine.start();
  assert.equal(engine.state().state, 'ready');
  assert.equal(engine.state().model, 'Tongyi-MAI/Z-Image-Turbo');
  assert.equal(engine.workerInfo.steps_semantics, 'fixed');
  assert.equal(engine.defaultSteps('generate'), 8);

  const progress: [number, number][] = [];
  const images = await engine.run(job({ seeds: [1, 2, 3] }), ctx((s, t) => progress.push([s, t])));
  assert.equal(images.length, 3);
  for (const img of images) {
    assert.deepEqual([img.width, img.height, img.channels, img.data.length], [64, 48, 3, 64 * 48 * 3]);
  }
  assert.ok(!images[0].data.equals(images[1].data) && !images[1].data.equals(images[2].data), 'distinct seeds, distinct images');
  // Batched: one run of 8 steps for all three images.
  assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8].map((s) => [s, 8]));

  const again = await engine.run(job({ seeds: [2] }), ctx());
  assert.ok(again[0].data.equals(images[1].data), 'same seed and parameters, same image');
  const otherPrompt = await engine.run(job({ seeds: [2], prompt: 'a blue fox' }), ctx());
  assert.ok(!otherPrompt[0].data.equals(images[1].data));
  const fewerSteps = await engine.run(job({ seeds: [2], steps: 4 }), ctx());
  assert.ok(!fewerSteps[0].data.equals(images[1].data), 'steps reach the pipeline');
});

test('old diffusers: the terminal-timestep schedule gives the same images with the same transformer passes', async () => {
  // FAKE_LEGACY_STEPS emulates diffusers before PR #13730 (0.38 and older): num_inference_steps=N+1
  // ends on sigma 0, whose pass changes nothing. The worker asks for N+1 and skips that last pass.
  const modern = started();
  const legacy = started({ FAKE_LEGACY_STEPS: '1' });
  await Promise.all([modern.engine.start(), legacy.engine.start()]);
  assert.equal(legacy.engine.workerInfo.steps_semantics, 'legacy');
  const progress: [number, number][] = [];
  const [a, b] = await Promise.all([
    modern.engine.run(job({ prompt: 'schedule', seeds: [5, 6], steps: 4 }), ctx()),
    legacy.engine.run(job({ prompt: 'schedule', seeds: [5, 6], steps: 4 }), ctx((s, t) => progress.push([s, t]))),
  ]);
  assert.ok(a[0].data.equals(b[0].data) && a[1].data.equals(b[1].data), 'same real step count on both');
  assert.deepEqual(progress, [1, 2, 3, 4].map((s) => [s, 4]), 'one batched run of 4 steps');
  for (const { lines } of [modern, legacy]) {
    await waitFor(() => lines.some((l) => /for 'schedule'/.test(l.msg)));
    assert.ok(lines.some((l) => l.msg === "decoded 2 image(s) for 'schedule' after 4 transformer pass(es)"));
  }
});

test('cancel stops denoising within a step, skips the VAE decode, and the worker goes on', async () => {
  const { engine, lines } = started({ FAKE_STEP_SECONDS: '0.1' });
  await engine.start();
  const ac = new AbortController();
  let steps = 0;
  let abortedAt = 0;
  const err = await rejection(
    engine.run(job({ prompt: 'cancel me', steps: 40 }), ctx((s) => {
      steps = s;
      if (s === 2) {
        abortedAt = Date.now();
        ac.abort();
      }
    }, ac.signal)),
  );
  assert.ok(err instanceof CanceledError, String(err));
  assert.ok(Date.now() - abortedAt < 1500, `stopped ${Date.now() - abortedAt} ms after the cancel`);
  // The step in flight when the cancel lands may finish; nothing after it (40 were asked for).
  assert.ok(steps <= 4, `reached step ${steps} after a cancel at step 2`);
  const pid = engine.workerPid;
  assert.equal((await engine.run(job({ prompt: 'after cancel', steps: 2 }), ctx())).length, 1);
  assert.equal(engine.workerPid, pid, 'no restart needed');
  assert.equal(engine.workerStarts, 1);
  // The log is one ordered stream: once the next job's decode is there, a decode of the canceled one would be too.
  await waitFor(() => lines.some((l) => /for 'after cancel'/.test(l.msg)));
  assert.ok(!lines.some((l) => /decoded .* for 'cancel me'/.test(l.msg)), 'the canceled pipeline did not decode');
});

test('an already aborted signal rejects at once; bad sizes are refused', async () => {
  const { engine } = started();
  const ac = new AbortController();
  ac.abort();
  assert.ok((await rejection(engine.run(job(), ctx(undefined, ac.signal)))) instanceof CanceledError);
  const err = await rejection(engine.run(job({ width: 100 }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'invalid_size' && !err.retryable);
});

test('a worker crash mid-run fails the job as retryable engine_crashed, restarts, and the next job runs', async () => {
  const { engine } = started();
  await engine.start();
  const firstPid = engine.workerPid;
  const err = await rejection(engine.run(job({ prompt: 'boom __crash__' }), ctx()));
  assert.ok(err instanceof EngineError, String(err));
  assert.equal(err.code, 'engine_crashed');
  assert.equal(err.retryable, true);
  assert.match(err.message, /exited with code 9/);
  const images = await engine.run(job(), ctx());
  assert.equal(images.length, 1);
  assert.notEqual(engine.workerPid, firstPid);
  assert.equal(engine.workerStarts, 2);
  assert.equal(engine.state().state, 'ready');
});

test('a hung step: a task timeout (abort) kills the worker after the grace period and restarts it', async () => {
  const { engine } = started({}, { cancelGraceMs: 300 });
  await engine.start();
  const ac = new AbortController();
  const t0 = Date.now();
  const run = engine.run(job({ prompt: '__hang__' }), ctx((s) => s === 1 && ac.abort(), ac.signal));
  const err = await rejection(run);
  assert.ok(err instanceof CanceledError, String(err));
  assert.ok(Date.now() - t0 < 3000);
  assert.equal((await engine.run(job(), ctx())).length, 1);
  assert.equal(engine.workerStarts, 2);
});

test('a hung step with no timeout: the stall watchdog kills it and the job fails retryable', async () => {
  const { engine, lines } = started({}, { stallTimeoutMs: 1000 });
  await engine.start();
  const err = await rejection(engine.run(job({ prompt: '__hang__' }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'engine_crashed' && err.retryable, String(err));
  assert.match(err.message, /no progress/);
  assert.equal((await engine.run(job(), ctx())).length, 1);
  assert.ok(lines.some((l) => /restarting the diffusers worker/.test(l.msg)));
});

test('a frozen worker (no heartbeat) is killed and replaced', async () => {
  const { engine, lines } = started({}, { heartbeatTimeoutMs: 1000 });
  await engine.start();
  const pid = engine.workerPid!;
  process.kill(pid, 'SIGSTOP');
  await waitFor(() => engine.workerStarts >= 2 && engine.state().state === 'ready', 10_000);
  assert.ok(lines.some((l) => /no heartbeat/.test(JSON.stringify(l))));
  assert.notEqual(engine.workerPid, pid);
  assert.equal((await engine.run(job(), ctx())).length, 1);
});

test('a fatal CUDA error is retryable engine_crashed and the worker is replaced', async () => {
  const { engine } = started();
  await engine.start();
  const err = await rejection(engine.run(job({ prompt: '__fatal__' }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'engine_crashed' && err.retryable, String(err));
  assert.match(err.message, /illegal memory access/);
  assert.equal((await engine.run(job(), ctx())).length, 1);
  assert.equal(engine.workerStarts, 2);
});

test('stderr reaches the server log line by line; prints cannot corrupt the protocol', async () => {
  const { engine, lines } = started();
  await engine.start();
  const images = await engine.run(job({ prompt: 'noisy library __print__' }), ctx());
  assert.equal(images.length, 1);
  await waitFor(() => lines.some((l) => /raw write to fd 1/.test(l.msg)));
  assert.ok(lines.some((l) => l.msg === 'fake pipeline: a library print to stdout' && l.component === 'zimage-worker'));
  const loaded = lines.find((l) => /fake pipeline loaded/.test(l.msg));
  assert.ok(loaded, 'Python logging lines arrive');
  assert.equal(loaded.level, 30);
  assert.equal(loaded.logger, 'zimage.worker');
});

test('edits: img2img uses the input image; a mask routes to inpainting (transparent = repaint)', async () => {
  const { engine } = started();
  await engine.start();
  const red = solid(64, 48, [200, 10, 10, 255]);
  const blue = solid(64, 48, [10, 10, 200]);
  const edit = (over = {}) => engine.run(job({ kind: 'edit', image: red, seeds: [3], ...over }), ctx());
  const [a] = await edit();
  const [b] = await edit();
  const [c] = await edit({ image: blue });
  assert.ok(a.data.equals(b.data) && !a.data.equals(c.data));

  const mask = solid(64, 48, [0, 0, 0, 255]);
  for (let y = 0; y < 48; y++) for (let x = 0; x < 32; x++) mask.data[(y * 64 + x) * 4 + 3] = 0; // left half transparent
  const [m] = await edit({ mask });
  const px = (img: RawImage, x: number, y: number) => [...img.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)];
  assert.deepEqual(px(m, 40, 10), [200, 10, 10], 'unmasked pixels keep the input');
  let changed = 0;
  for (let y = 0; y < 48; y++) for (let x = 0; x < 32; x++) if (px(m, x, y).join() !== '200,10,10') changed++;
  assert.ok(changed > 32 * 48 * 0.9, `left half repainted (${changed})`);
  assert.deepEqual([...maskToGray(solid(2, 1, [255, 255, 255])).values()], [255, 255], 'RGB masks: white = repaint');
});

test('a failed model load: start() rejects, state is error with the message, runs are refused', async () => {
  const { engine } = started({ FAKE_LOAD_FAIL: 'safetensors file is truncated' });
  const err = await rejection(engine.start());
  assert.match(err.message, /safetensors file is truncated/);
  assert.equal(engine.state().state, 'error');
  assert.match(engine.state().message ?? '', /safetensors file is truncated/);
  const runErr = await rejection(engine.run(job(), ctx()));
  assert.ok(runErr instanceof EngineError && runErr.code === 'engine_unavailable', String(runErr));
});

test('a load slower than the start timeout is killed and reported', async () => {
  const { engine } = started({ FAKE_LOAD_SECONDS: '30' }, { startTimeoutMs: 300 });
  const err = await rejection(engine.start());
  assert.match(err.message, /ZIMAGE_ENGINE_START_TIMEOUT_SECONDS/);
  assert.equal(engine.state().state, 'error');
});

function config(over: Partial<Config>): Config {
  return { ...loadConfig({}, []), logLevel: 'silent', ...over };
}

test('createEngine: a missing interpreter fails fast with the fix; auto falls back to synthetic', async () => {
  const { log, lines } = captureLog();
  const t0 = Date.now();
  const err = await rejection(createEngine(config({ engine: 'diffusers', python: '/nonexistent/bin/python3' }), log));
  assert.ok(err instanceof EngineUnavailableError, String(err));
  assert.match(err.message, /\/nonexistent\/bin\/python3/);
  assert.match(err.hint ?? '', /npm run setup:gpu/);
  assert.ok(Date.now() - t0 < 5000);

  const auto = await createEngine(config({ engine: 'auto', python: '/nonexistent/bin/python3' }), log);
  assert.equal(auto.name, 'synthetic');
  assert.equal(auto.synthetic, true);
  assert.ok(lines.some((l) => /SYNTHETIC/.test(l.msg) && /Python interpreter/.test(l.msg)));
});

test('createEngine: the probe names what is missing (torch, GPU) or builds the diffusers engine', async () => {
  const { log } = captureLog();
  const saved = { ...process.env };
  try {
    process.env.ZIMAGE_PIPELINE_MODULE = FAKE;
    process.env.FAKE_PROBE_MISSING = 'torch';
    let err = await rejection(createEngine(config({ engine: 'diffusers', python: 'python3' }), log));
    assert.ok(err instanceof EngineUnavailableError);
    assert.match(err.message, /missing torch/);
    process.env.FAKE_PROBE_MISSING = 'transformers,accelerate';
    err = await rejection(createEngine(config({ engine: 'diffusers', python: 'python3' }), log));
    assert.match(err.message, /missing transformers, accelerate/);
    process.env.FAKE_PROBE_MISSING = 'cuda';
    err = await rejection(createEngine(config({ engine: 'diffusers', python: 'python3' }), log));
    assert.match(err.message, /device cuda/);
    assert.match((err as EngineUnavailableError).hint ?? '', /nvidia-smi/);
    delete process.env.FAKE_PROBE_MISSING;
    const engine = await createEngine(config({ engine: 'auto', python: 'python3' }), log);
    assert.equal(engine.name, 'diffusers');
    assert.equal(engine.synthetic, false);
    assert.equal(engine.state().state, 'loading');
    await engine.close();
  } finally {
    process.env = saved;
  }
});
