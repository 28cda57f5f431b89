/**
 * How engine failures become task states, through the real server and queue:
 * retryable errors are retried under the attempt limit, others fail at once with their code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CanceledError, EngineError } from '../../src/errors.js';
import type { Engine, EngineContext, Job, RawImage } from '../../src/interfaces.js';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import { pollTask, postJson } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

/** A real synthetic engine whose runs can be scripted to fail first. */
class ScriptedEngine implements Engine {
  readonly name = 'scripted';
  readonly synthetic = true;
  runs = 0;
  private readonly inner = new SyntheticEngine({ stepMs: 0 });
  constructor(private readonly script: Script) {}
  state() { return this.inner.state(); }
  async start() {}
  defaultSteps() { return 8; }
  async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    const step = this.script[this.runs++];
    if (step) return step(ctx);
    return this.inner.run(job, ctx);
  }
  async close() {}
}

const crash = async (): Promise<never> => { throw new EngineError('engine_crashed', 'the worker process died', true); };
const oom = async (): Promise<never> => { throw new EngineError('out_of_memory', 'CUDA out of memory; try a smaller size', false); };
const bug = async (): Promise<never> => { throw new TypeError('cannot read properties of undefined'); };
const hang = (ctx: EngineContext) => new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new CanceledError())));

type Script = Array<(ctx: EngineContext) => Promise<never>>;

async function runOne(script: Script, overrides = {}) {
  const engine = new ScriptedEngine(script);
  const server = await startTestServer({ maxAttempts: 3, ...overrides }, { engine });
  try {
    const res = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'x', size: '256x256' });
    const done = await pollTask(server.url, res.body.task_id);
    const task = await server.queue.get(res.body.task_id);
    // The worker goes on: a second task after the failure completes.
    const next = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'after', size: '256x256' });
    const nextDone = await pollTask(server.url, next.body.task_id);
    return { done, task: task!, engine, nextDone };
  } finally {
    await server.close();
  }
}

test('a retryable crash is retried and the task completes (attempts counted)', async () => {
  const { done, task, engine } = await runOne([crash, crash]);
  assert.equal(done.status, 'completed');
  assert.equal(task.attempts, 3);
  assert.equal(engine.runs, 4);
});

test('retryable errors past the attempt limit fail with the engine error code', async () => {
  const { done, task, nextDone } = await runOne([crash, crash, crash]);
  assert.equal(done.status, 'failed');
  assert.deepEqual(done.error, { code: 'engine_crashed', message: 'the worker process died', retryable: true });
  assert.equal(task.attempts, 3);
  assert.equal(nextDone.status, 'completed');
});

test('out of memory fails at once, not retried, and the next task runs', async () => {
  const { done, task, nextDone } = await runOne([oom]);
  assert.equal(done.status, 'failed');
  assert.equal(done.error.code, 'out_of_memory');
  assert.equal(done.error.retryable, false);
  assert.equal(task.attempts, 1);
  assert.equal(nextDone.status, 'completed');
});

test('an unexpected error is logged, retried, and reported as internal_error when it persists', async () => {
  const { done } = await runOne([bug, bug, bug]);
  assert.equal(done.status, 'failed');
  assert.equal(done.error.code, 'internal_error');
  assert.match(done.error.message, /cannot read properties/);
});

test('a run longer than the task timeout is stopped and fails with timeout', async () => {
  const { done, task, nextDone } = await runOne([hang], { taskTimeoutSeconds: 1 });
  assert.equal(done.status, 'failed');
  assert.equal(done.error.code, 'timeout');
  assert.equal(done.error.retryable, false, 'the same run would time out again');
  assert.match(done.error.message, /ZIMAGE_TASK_TIMEOUT_SECONDS/);
  assert.equal(task.attempts, 1);
  assert.equal(nextDone.status, 'completed');
});

test('tasks submitted while the engine loads wait queued (no attempt, no timeout spent) and run once it is ready', async () => {
  let ready = false;
  const inner = new SyntheticEngine({ stepMs: 0 });
  const loading: Engine = {
    name: 'slow-start', synthetic: true,
    state: () => (ready ? inner.state() : { state: 'loading', message: 'loading the model' }),
    start: async () => {},
    defaultSteps: () => 8,
    run: (job, ctx) => inner.run(job, ctx),
    close: async () => {},
  };
  const server = await startTestServer({ taskTimeoutSeconds: 1 }, { engine: loading });
  try {
    const res = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'early', size: '256x256' });
    await new Promise((r) => setTimeout(r, 1500)); // longer than the task timeout
    const waiting = await server.queue.get(res.body.task_id);
    assert.deepEqual([waiting?.state, waiting?.attempts], ['queued', 0]);
    const health = await (await fetch(`${server.url}/health`)).json();
    assert.deepEqual([health.ready, health.engine.state], [false, 'loading']);
    ready = true;
    const done = await pollTask(server.url, res.body.task_id);
    assert.equal(done.status, 'completed');
    assert.equal((await server.queue.get(res.body.task_id))?.attempts, 1);
  } finally {
    await server.close();
  }
});
