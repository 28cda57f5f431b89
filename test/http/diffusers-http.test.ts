/**
 * The diffusers engine through the HTTP API: the real server, the real Python worker,
 * the stdlib-only fake pipeline (python/testing/fake_pipeline.py) instead of torch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { DiffusersEngine } from '../../src/engines/diffusers/engine.js';
import { probeDiffusers } from '../../src/engines/diffusers/probe.js';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { CLI, ROOT, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const FAKE = path.join(ROOT, 'python', 'testing', 'fake_pipeline.py');
let server: TestServer;
const saved = { ...process.env };

before(async () => {
  // The probe and the worker inherit the server's environment: this selects the fake pipeline.
  process.env.ZIMAGE_PIPELINE_MODULE = FAKE;
  process.env.FAKE_STEP_SECONDS = '0.002';
  server = await startTestServer({
    engine: 'diffusers',
    python: 'python3',
    maxAttempts: 2,
    taskTimeoutSeconds: 2,
    engineCancelGraceSeconds: 0.3,
    engineRestartBackoffSeconds: 0.02,
  });
  for (let i = 0; i < 500; i++) {
    const health = await getJson(`${server.url}/health`);
    if (health.body.engine.state === 'ready') break;
    await new Promise((r) => setTimeout(r, 20));
  }
});

after(async () => {
  await server?.close();
  process.env = saved;
});

const submit = async (body: Record<string, unknown>) => {
  const res = await postJson(`${server.url}/v1/images/async_generate`, { size: '256x256', ...body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.task_id as string;
};

async function pixels(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return sharp(Buffer.from(await res.arrayBuffer())).raw().toBuffer();
}

test('health reports the diffusers engine, ready and not synthetic', async () => {
  const health = await getJson(`${server.url}/health`);
  assert.equal(health.body.engine.name, 'diffusers');
  assert.equal(health.body.engine.synthetic, false);
  assert.equal(health.body.engine.state, 'ready');
  assert.equal(health.body.engine.model, 'Tongyi-MAI/Z-Image-Turbo');
});

test('n images with per-image seeds; the same seed and parameters give the same pixels', async () => {
  const first = await pollTask(server.url, await submit({ prompt: 'a lighthouse', n: 2, seed: 7 }));
  assert.equal(first.status, 'completed', JSON.stringify(first));
  assert.deepEqual(first.data.map((d: any) => d.seed), [7, 8]);
  const again = await pollTask(server.url, await submit({ prompt: 'a lighthouse', n: 2, seed: 7 }));
  assert.equal(again.status, 'completed');
  const [a0, a1, b0, b1] = await Promise.all([first.data[0], first.data[1], again.data[0], again.data[1]].map((d) => pixels(d.url)));
  assert.ok(a0.equals(b0) && a1.equals(b1), 'same request, same pixels');
  assert.ok(!a0.equals(a1), 'different seeds, different pixels');
  const other = await pollTask(server.url, await submit({ prompt: 'a lighthouse', seed: 9 }));
  assert.ok(!(await pixels(other.data[0].url)).equals(a0));
});

test('out of memory fails the task with out_of_memory (not retried); the next task completes', async () => {
  const failed = await pollTask(server.url, await submit({ prompt: 'huge __oom__' }));
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'out_of_memory');
  assert.match(failed.error.message, /ZIMAGE_OFFLOAD/);
  assert.equal((await pollTask(server.url, await submit({ prompt: 'after oom' }))).status, 'completed');
});

test('a worker crash is retried under the attempt rules, then fails; the restarted worker runs the next task', async () => {
  const engine = server.engine as DiffusersEngine;
  const startsBefore = engine.workerStarts;
  const failed = await pollTask(server.url, await submit({ prompt: 'always __crash__' }), 20_000);
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  assert.equal(failed.error.code, 'engine_crashed');
  assert.match(failed.error.message, /exited with code 9/);
  assert.equal((await pollTask(server.url, await submit({ prompt: 'after crash' }))).status, 'completed');
  assert.equal(engine.workerStarts, startsBefore + 2, 'ZIMAGE_MAX_ATTEMPTS=2: two attempts, two crashes, two restarts');
});

test('a hung worker: the task times out, the worker is killed and restarted, the next task completes', async () => {
  const failed = await pollTask(server.url, await submit({ prompt: 'stuck __hang__' }), 20_000);
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  assert.equal(failed.error.code, 'timeout');
  assert.equal((await pollTask(server.url, await submit({ prompt: 'after hang' }))).status, 'completed');
});

test('cancel stops a running task', async () => {
  const id = await submit({ prompt: 'long __slow__', num_inference_steps: 40 });
  for (let i = 0; i < 300; i++) {
    const r = await getJson(`${server.url}/v1/images/tasks/${id}`);
    if (r.body.step >= 1) break;
    await new Promise((res) => setTimeout(res, 10));
  }
  const t0 = Date.now();
  const res = await postJson(`${server.url}/v1/images/tasks/${id}/cancel`, {});
  assert.ok(res.status < 300, JSON.stringify(res.body));
  const done = await pollTask(server.url, id);
  assert.equal(done.status, 'canceled');
  assert.ok(Date.now() - t0 < 2000, `canceled in ${Date.now() - t0} ms`);
  assert.equal((await pollTask(server.url, await submit({ prompt: 'after cancel' }))).status, 'completed');
});

function serveExpectingExit(env: Record<string, string>) {
  const childEnv: NodeJS.ProcessEnv = { ...saved, PORT: '0', HOST: '127.0.0.1', ZIMAGE_DATA_DIR: tempDir(), ...env };
  delete childEnv.ZIMAGE_PIPELINE_MODULE;
  const child = spawn(process.execPath, [CLI, 'serve'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const t0 = Date.now();
  return new Promise<{ code: number | null; out: string; ms: number }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

test('ZIMAGE_ENGINE=diffusers without an interpreter: the server exits non-zero at once, naming the fix', async () => {
  const r = await serveExpectingExit({ ZIMAGE_ENGINE: 'diffusers', ZIMAGE_PYTHON: '/nonexistent/bin/python3' });
  assert.notEqual(r.code, 0);
  assert.ok(r.ms < 30_000);
  assert.match(r.out, /\/nonexistent\/bin\/python3/);
  assert.match(r.out, /npm run setup:gpu/);
});

test('ZIMAGE_ENGINE=diffusers with a Python lacking torch: exits non-zero naming torch and the fix', async (t) => {
  const probe = await probeDiffusers({ python: 'python3', pythonDir: path.join(ROOT, 'python'), device: 'cuda', env: { ZIMAGE_PIPELINE_MODULE: '' } });
  if (probe.report?.torch) return t.skip('python3 here has torch');
  const r = await serveExpectingExit({ ZIMAGE_ENGINE: 'diffusers', ZIMAGE_PYTHON: 'python3' });
  assert.notEqual(r.code, 0);
  assert.ok(r.ms < 30_000);
  assert.match(r.out, /missing torch/);
  assert.match(r.out, /npm run setup:gpu/);
});
