/**
 * The diffusers engine's job handling: out-of-memory retries, error codes, separate edit
 * models, attention and guidance, plus the pieces around the worker (supervisor, worker
 * environment, and the real backend's helpers checked against stand-ins for torch and diffusers).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { workerEnv } from '../../src/engines/diffusers/options.js';
import { Supervisor } from '../../src/engines/diffusers/supervisor.js';
import type { WorkerProcess } from '../../src/engines/diffusers/worker-process.js';
import { EngineError } from '../../src/errors.js';
import {
  captureLog, closeStartedEngines, ctx, engineOptions, job, PYTHON_DIR, rejection, solid, started, waitFor,
} from './diffusers-helpers.js';

after(closeStartedEngines);

test('CUDA out of memory fails only that job with out_of_memory; the same worker runs the next', async () => {
  const { engine } = started();
  await engine.start();
  const err = await rejection(engine.run(job({ prompt: '__oom__', seeds: [1, 2] }), ctx()));
  assert.ok(err instanceof EngineError, String(err));
  assert.equal(err.code, 'out_of_memory');
  assert.equal(err.retryable, false);
  assert.match(err.message, /smaller size/);
  assert.match(err.message, /ZIMAGE_OFFLOAD=model/);
  assert.match(err.message, /CUDA out of memory/);
  assert.equal((await engine.run(job(), ctx())).length, 1);
  assert.equal(engine.workerStarts, 1);

  // A batch that runs out of memory is retried one image at a time before anything fails.
  const progress: [number, number][] = [];
  const images = await engine.run(job({ prompt: 'big __batchoom__', seeds: [1, 2], steps: 4 }), ctx((s, t) => progress.push([s, t])));
  assert.equal(images.length, 2);
  const [alone] = await engine.run(job({ prompt: 'big __batchoom__', seeds: [2], steps: 4 }), ctx());
  assert.ok(alone.data.equals(images[1].data), 'the same image as on its own');
  assert.deepEqual(progress.at(-1), [8, 8]);
  assert.ok(progress.every(([s], i) => i === 0 || s > progress[i - 1][0]), `steps only go up: ${JSON.stringify(progress)}`);
  // A batch as large goes one at a time at once (no second out-of-memory), still in one worker.
  assert.equal((await engine.run(job({ prompt: 'big __batchoom__', seeds: [3, 4], steps: 4 }), ctx())).length, 2);
  assert.equal(engine.workerStarts, 1);
});

test('error codes: input checks are invalid_request, library failures engine_error; flash without masks refuses guidance', async () => {
  const { engine } = started({ FAKE_NO_INPAINT: '1', FAKE_NO_VARLEN: '1', ZIMAGE_ATTENTION: 'flash' });
  await engine.start();
  let err = await rejection(engine.run(job({ prompt: '__valueerror__' }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'engine_error' && !err.retryable, String(err));
  assert.match(err.message, /ValueError: not enough values to unpack/);
  const image = solid(64, 48, [1, 2, 3]);
  err = await rejection(engine.run(job({ kind: 'edit', image, strength: 0 }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'invalid_request' && !err.retryable, String(err));
  assert.match(err.message, /strength/);

  err = await rejection(engine.run(job({ kind: 'edit', image, mask: solid(64, 48, [255, 255, 255]) }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'unsupported' && !err.retryable, String(err));
  assert.match(err.message, /ZImageInpaintPipeline/);

  err = await rejection(engine.run(job({ guidanceScale: 4 }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'unsupported', String(err));
  assert.match(err.message, /ZIMAGE_ATTENTION=flash/);
  assert.equal((await engine.run(job({ guidanceScale: 0 }), ctx())).length, 1, 'unguided jobs still run');
});

test('a separate edit model: refused when it lacks what the request needs; its own legacy schedule is honoured', async () => {
  const limited = started({ FAKE_EDIT_MODEL: 'limited' });
  const legacy = started({ FAKE_EDIT_MODEL: 'legacy' }, { cfgNormalization: true });
  await Promise.all([limited.engine.start(), legacy.engine.start()]);
  const image = solid(64, 48, [1, 2, 3]);
  let err = await rejection(limited.engine.run(job({ kind: 'edit', image, mask: solid(64, 48, [255, 255, 255]) }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'unsupported', String(err));
  assert.match(err.message, /does not take callback_on_step_end, generator, mask_image/);
  err = await rejection(limited.engine.run(job({ kind: 'edit', image }), ctx()));
  assert.match(err.message, /does not take callback_on_step_end, generator, which/);

  const progress: [number, number][] = [];
  await legacy.engine.run(job({ kind: 'edit', prompt: 'legacy edit', image, steps: 4, strength: 1 }), ctx((s, t) => progress.push([s, t])));
  assert.deepEqual(progress, [1, 2, 3, 4].map((s) => [s, 4]));
  await waitFor(() => legacy.lines.some((l) => /for 'legacy edit'/.test(l.msg)));
  assert.ok(legacy.lines.some((l) => l.msg === "decoded 1 image(s) for 'legacy edit' after 4 transformer pass(es)"));

  // ZIMAGE_CFG_NORMALIZATION reaches the pipeline whenever guidance runs (> 0), not only above 1.
  const gen = (e: typeof limited.engine, guidanceScale: number) => e.run(job({ seeds: [9], guidanceScale }), ctx());
  const [[off], [on], [off0], [on0]] = await Promise.all([gen(limited.engine, 0.5), gen(legacy.engine, 0.5), gen(limited.engine, 0), gen(legacy.engine, 0)]);
  assert.ok(!off.data.equals(on.data), 'cfg_normalization passed at guidance 0.5');
  assert.ok(off0.data.equals(on0.data), 'and not without guidance');
});

test('a worker that exits on its own takes its process group with it', { skip: process.platform !== 'linux' }, async () => {
  const { engine, lines } = started();
  await engine.start();
  const err = await rejection(engine.run(job({ prompt: 'crash __orphan__' }), ctx()));
  assert.ok(err instanceof EngineError && err.code === 'engine_crashed', String(err));
  await waitFor(() => lines.some((l) => /started helper pid/.test(l.msg)));
  const pid = Number(/pid (\d+)/.exec(lines.find((l) => /started helper pid/.test(l.msg))!.msg)![1]);
  // Gone, or a zombie waiting for init to reap it: either way no longer running.
  const running = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  await waitFor(() => !running(), 3000);
});

test('the real backend, against stand-ins for torch and diffusers: no float32 edit pipelines, varlen flash, regional compile', async () => {
  const { stdout } = await promisify(execFile)('python3', [path.join(PYTHON_DIR, 'testing', 'backend_check.py')], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.match(stdout, /^ok \d+/);
});

test('supervisor: a retiring worker is not killed as a slow load', async () => {
  const kills: string[] = [];
  class StubProcess extends EventEmitter {
    lastFrameAt = Date.now();
    alive = true;
    pid = 1;
    stderrTail: string[] = [];
    child = { stdin: null };
    whenExited = Promise.resolve();
    send() {}
    kill(reason: string) {
      kills.push(reason);
    }
  }
  let proc: StubProcess | undefined;
  const sup = new Supervisor({
    spawn: () => (proc = new StubProcess()) as unknown as WorkerProcess,
    log: captureLog().log,
    startTimeoutMs: 100,
    heartbeatTimeoutMs: 1000, // liveness checked every 250 ms
    restartBackoffMs: 10,
    restartBackoffMaxMs: 10,
    model: 'm',
    device: 'cuda',
  });
  const ready = sup.start();
  proc!.emit('frame', { type: 'ready' }, Buffer.alloc(0));
  await ready;
  await new Promise((r) => setTimeout(r, 150)); // past the start timeout
  sup.retire();
  proc!.lastFrameAt = Date.now();
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(kills, []);
  await sup.close();
});

test('worker environment: expandable CUDA segments unless the user configured the allocator', () => {
  const saved = { ...process.env };
  try {
    delete process.env.PYTORCH_CUDA_ALLOC_CONF;
    delete process.env.PYTORCH_ALLOC_CONF;
    assert.equal(workerEnv(engineOptions()).PYTORCH_CUDA_ALLOC_CONF, 'expandable_segments:True');
    process.env.PYTORCH_CUDA_ALLOC_CONF = 'backend:cudaMallocAsync';
    assert.equal(workerEnv(engineOptions()).PYTORCH_CUDA_ALLOC_CONF, 'backend:cudaMallocAsync');
    delete process.env.PYTORCH_CUDA_ALLOC_CONF;
    process.env.PYTORCH_ALLOC_CONF = 'expandable_segments:False';
    assert.equal(workerEnv(engineOptions()).PYTORCH_CUDA_ALLOC_CONF, undefined);
  } finally {
    process.env = saved;
  }
});
