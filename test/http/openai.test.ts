/**
 * The OpenAI-compatible synchronous endpoints, driven by the official `openai` SDK exactly
 * as an application would use it (only baseURL changed), plus raw HTTP for what the SDK
 * hides: unknown fields, error bodies, disconnects, timeouts and shutdown. Streaming and the
 * fields of current OpenAI image clients: openai-stream.test.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { CanceledError, EngineError } from '../../src/errors.js';
import { sizeForInput } from '../../src/http/imageSubmit.js';
import type { Engine, EngineContext, EngineState, Job, RawImage } from '../../src/interfaces.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TASK_ID = /^[a-f0-9]{32}$/;

async function pngSize(data: Buffer): Promise<[string | undefined, number | undefined, number | undefined]> {
  const meta = await sharp(data).metadata();
  return [meta.format, meta.width, meta.height];
}

/** Task rows straight from the server's SQLite file (read-only): how a test sees a task whose id its client never received. */
function dbTasks(server: TestServer): Array<{ id: string; state: string }> {
  const db = new Database(path.join(server.dataDir, 'zimage.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, state FROM tasks ORDER BY seq').all() as Array<{ id: string; state: string }>;
  } finally {
    db.close();
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stateOf = (server: TestServer, id: string) => dbTasks(server).find((t) => t.id === id)?.state;

describe('OpenAI SDK, unmodified, against the server', () => {
  let server: TestServer;
  let client: OpenAI;
  let png: Buffer;
  before(async () => {
    server = await startTestServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    png = await solidPng(320, 240, [200, 30, 30]);
  });
  after(() => server.close());

  test('images.generate with response_format url: the url downloads a PNG of the requested size', async () => {
    const res = await client.images.generate({ model: 'z-image-turbo', prompt: 'a lighthouse at dusk', size: '512x256', response_format: 'url' });
    assert.equal(typeof res.created, 'number');
    assert.ok(Math.abs(res.created - Date.now() / 1000) < 60);
    assert.equal(res.data?.length, 1);
    const url = res.data![0].url!;
    assert.match(url, new RegExp(`^${server.url}/outputs/gen_[a-f0-9]{32}\\.png$`));
    assert.equal(res.data![0].b64_json, undefined);
    assert.equal(typeof (res.data![0] as { seed?: unknown }).seed, 'number');
    assert.equal(res.output_format, 'png');
    assert.equal(res.size as string, '512x256');
    const download = await fetch(url);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'image/png');
    assert.deepEqual(await pngSize(Buffer.from(await download.arrayBuffer())), ['png', 512, 256]);
  });

  test('images.generate with response_format b64_json: the base64 decodes to a PNG of the requested size', async () => {
    const res = await client.images.generate({ prompt: 'a lighthouse at dusk', size: '256x512', response_format: 'b64_json' });
    assert.equal(res.data?.length, 1);
    assert.equal(res.data![0].url, undefined);
    assert.deepEqual(await pngSize(Buffer.from(res.data![0].b64_json!, 'base64')), ['png', 256, 512]);
  });

  test('images.edit with response_format url', async () => {
    const res = await client.images.edit({
      image: await toFile(png, 'red.png', { type: 'image/png' }), prompt: 'make it blue', size: '256x256', response_format: 'url',
    });
    assert.equal(res.data?.length, 1);
    const url = res.data![0].url!;
    assert.match(url, new RegExp(`^${server.url}/outputs/edit_[a-f0-9]{32}\\.png$`));
    const download = await fetch(url);
    assert.equal(download.status, 200);
    assert.deepEqual(await pngSize(Buffer.from(await download.arrayBuffer())), ['png', 256, 256]);
  });

  test('images.edit with response_format b64_json, the image as image[] (an array) and a mask', async () => {
    const mask = await solidPng(320, 240, [0, 0, 0]);
    const res = await client.images.edit({
      image: [await toFile(png, 'red.png', { type: 'image/png' })],
      mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
      prompt: 'make it blue', size: '256x512', response_format: 'b64_json', n: 2,
    });
    assert.equal(res.data?.length, 2);
    for (const item of res.data!) assert.deepEqual(await pngSize(Buffer.from(item.b64_json!, 'base64')), ['png', 256, 512]);
  });

  test('images.edit with size "auto" keeps the input\'s aspect ratio', async () => {
    const res = await client.images.edit({
      image: await toFile(png, 'red.png', { type: 'image/png' }), prompt: 'make it blue', size: 'auto', response_format: 'b64_json',
    });
    const [w, h] = sizeForInput(320, 240).split('x').map(Number);
    assert.equal(res.size as string, `${w}x${h}`);
    assert.deepEqual(await pngSize(Buffer.from(res.data![0].b64_json!, 'base64')), ['png', w, h]);
  });

  test('models.list and models.retrieve show the served model', async () => {
    const page = await client.models.list();
    const models = page.data.map((m) => ({ ...m }));
    assert.equal(models.length, 1);
    assert.deepEqual(Object.keys(models[0]).sort(), ['created', 'id', 'object', 'owned_by']);
    assert.equal(models[0].id, 'synthetic-test-pattern');
    assert.equal(models[0].object, 'model');
    assert.equal(models[0].owned_by, 'zimage-server');
    assert.ok(Number.isInteger(models[0].created));
    assert.deepEqual({ ...(await client.models.retrieve('synthetic-test-pattern')) }, models[0]);
  });

  test('with ZIMAGE_API_KEYS the SDK\'s apiKey is the key: the task is the key owner\'s; a wrong key is AuthenticationError', async (t) => {
    const secured = await startTestServer({ apiKeys: 'alice:sk-alice-1' });
    t.after(() => secured.close());
    const alice = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-alice-1', maxRetries: 0 });
    const res = await alice.images.generate({ prompt: 'a lighthouse', size: '256x256', response_format: 'b64_json' });
    assert.equal(res.data?.length, 1);
    const db = new Database(path.join(secured.dataDir, 'zimage.db'), { readonly: true, fileMustExist: true });
    try {
      assert.deepEqual(db.prepare('SELECT owner FROM tasks').all(), [{ owner: 'alice' }]);
    } finally {
      db.close();
    }
    const wrong = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.images.generate({ prompt: 'a lighthouse', size: '256x256' }), OpenAI.AuthenticationError);
    await assert.rejects(wrong.models.list(), OpenAI.AuthenticationError);
  });

  test('a bad request surfaces as the SDK\'s BadRequestError with our code and param', async () => {
    await assert.rejects(client.images.generate({ prompt: 'a cat', size: '1000x1000' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'invalid_size');
      assert.equal(err.param, 'size');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  });
});

describe('OpenAI endpoints over raw HTTP', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.close());

  test('OpenAI-only fields are read, unknown ones accepted and ignored; the answer is OpenAI\'s shape plus seed', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, {
      prompt: 'a red bicycle', model: 'dall-e-3', quality: 'hd', style: 'vivid', background: 'opaque', moderation: 'low',
      input_fidelity: 'high', user: 'user-1234', partial_images: 0, stream: false, output_compression: 80, size: '256x256',
      response_format: 'url', some_future_field: { nested: [1, 2] },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const taskId = res.headers.get('x-task-id')!;
    assert.match(taskId, TASK_ID);
    assert.deepEqual(Object.keys(res.body).sort(), ['background', 'created', 'data', 'output_format', 'quality', 'size', 'usage']);
    assert.equal(res.body.size, '256x256');
    assert.equal(res.body.output_format, 'png');
    assert.equal(res.body.quality, 'high', 'DALL-E 3\'s "hd" is "high"');
    assert.equal(res.body.background, 'opaque');
    assert.equal(res.body.usage.total_tokens, 0);
    assert.deepEqual(Object.keys(res.body.data[0]).sort(), ['seed', 'url']);
    // The same task, seen through the async API.
    const polled = await pollTask(server.url, taskId);
    assert.equal(polled.status, 'completed');
    assert.equal(polled.data[0].url, res.body.data[0].url);
  });

  test('without response_format the answer is b64_json (as current OpenAI image models answer)', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, { prompt: 'a red bicycle', size: '256x256' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body.data[0]).sort(), ['b64_json', 'seed']);
    assert.deepEqual(await pngSize(Buffer.from(res.body.data[0].b64_json, 'base64')), ['png', 256, 256]);
    const edit = await request(`${server.url}/v1/images/edits`, {
      method: 'POST', body: form({ prompt: 'make it blue', size: '256x256' }, { image: { data: await solidPng(64, 64, [9, 9, 9]) } }),
    });
    assert.equal(edit.status, 200, JSON.stringify(edit.body));
    assert.deepEqual(Object.keys(edit.body.data[0]).sort(), ['b64_json', 'seed']);
  });

  test('size "auto" (and no size) is 1024x1024 for generations', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, { prompt: 'a red bicycle', size: 'auto', response_format: 'b64_json' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.size, '1024x1024');
    assert.deepEqual(await pngSize(Buffer.from(res.body.data[0].b64_json, 'base64')), ['png', 1024, 1024]);
  });

  test('n: 2 returns two images with distinct seeds (seed, seed+1); output_format webp is honoured', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, {
      prompt: 'two cats', n: 2, seed: 41, size: '256x256', response_format: 'b64_json', output_format: 'webp',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.data.length, 2);
    assert.deepEqual(res.body.data.map((d: { seed: number }) => d.seed), [41, 42]);
    assert.equal(res.body.output_format, 'webp');
    for (const d of res.body.data) assert.deepEqual(await pngSize(Buffer.from(d.b64_json, 'base64')), ['webp', 256, 256]);
  });

  test('bad input answers the exact OpenAI error object, with no task queued', async () => {
    const before = dbTasks(server).length;
    const missing = await postJson(`${server.url}/v1/images/generations`, { model: 'dall-e-3', size: '1024x1024' });
    assert.equal(missing.status, 400);
    assert.equal(missing.headers.get('x-task-id'), null);
    assert.deepEqual(missing.body, {
      error: { message: 'A "prompt" is required: describe the image you want.', type: 'invalid_request_error', code: 'invalid_prompt', param: 'prompt' },
    });
    const tooMany = await postJson(`${server.url}/v1/images/generations`, { prompt: 'cats', n: 10 });
    assert.equal(tooMany.status, 400);
    assert.deepEqual(Object.keys(tooMany.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(tooMany.body.error.code, 'invalid_n');
    assert.equal(tooMany.body.error.param, 'n');
    assert.equal(tooMany.body.error.type, 'invalid_request_error');
    const notJson = await request(`${server.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": ' });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'invalid_json');
    const noImage = await request(`${server.url}/v1/images/edits`, { method: 'POST', body: form({ prompt: 'make it blue' }) });
    assert.equal(noImage.status, 400);
    assert.deepEqual(noImage.body, {
      error: {
        message: 'An edit needs the picture to change: send it as a file in the `image` form field (PNG, JPEG or WebP).',
        type: 'invalid_request_error', code: 'missing_image', param: 'image',
      },
    });
    const editAsJson = await postJson(`${server.url}/v1/images/edits`, { prompt: 'make it blue' });
    assert.equal(editAsJson.status, 400);
    assert.equal(editAsJson.body.error.code, 'missing_image');
    const editAsText = await request(`${server.url}/v1/images/edits`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(editAsText.status, 415);
    assert.equal(editAsText.body.error.code, 'unsupported_media_type');
    const notAnImage = await request(`${server.url}/v1/images/edits`, {
      method: 'POST', body: form({ prompt: 'x' }, { image: { data: Buffer.from('not a png at all') } }),
    });
    assert.equal(notAnImage.status, 400);
    assert.equal(notAnImage.body.error.code, 'invalid_image');
    assert.equal(notAnImage.body.error.param, 'image');
    const unknownModel = await getJson(`${server.url}/v1/models/dall-e-3`);
    assert.equal(unknownModel.status, 404);
    assert.deepEqual(unknownModel.body, {
      error: {
        message: 'The model "dall-e-3" is not served here. Served: "synthetic-test-pattern". See GET /v1/models.',
        type: 'not_found_error', code: 'model_not_found', param: 'model',
      },
    });
    assert.equal(dbTasks(server).length, before, 'no bad request queued a task');
  });
});

/** An engine that fails on command, blocks until canceled, and reports a Hugging Face model id. */
class ScriptedEngine implements Engine {
  readonly name = 'scripted';
  readonly synthetic = true;
  state(): EngineState { return { state: 'ready', model: 'Tongyi-MAI/Z-Image-Turbo' }; }
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  defaultSteps(): number { return 1; }
  async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    if (job.prompt === 'oom') throw new EngineError('out_of_memory', 'The GPU ran out of memory. Try a smaller size or fewer images.', false);
    if (job.prompt === 'block') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      throw new CanceledError();
    }
    throw new EngineError('bad_weights', 'The model weights are corrupt. Download them again.', false);
  }
}

describe('OpenAI endpoints: tasks that fail or are canceled', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({}, { engine: new ScriptedEngine(), shutdownGraceMs: 0 }); });
  after(() => server.close());

  test('out_of_memory answers 503 with the task\'s code and message, and tells the SDK not to retry', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, { prompt: 'oom', size: '256x256' });
    assert.equal(res.status, 503);
    assert.match(res.headers.get('x-task-id')!, TASK_ID);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    assert.deepEqual(res.body, {
      error: { message: 'The GPU ran out of memory. Try a smaller size or fewer images.', type: 'unavailable_error', code: 'out_of_memory', param: null },
    });
  });

  test('any other engine failure answers 500 server_error with the task\'s code and message', async () => {
    const res = await postJson(`${server.url}/v1/images/generations`, { prompt: 'anything else', size: '256x256' });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    assert.deepEqual(res.body, {
      error: { message: 'The model weights are corrupt. Download them again.', type: 'server_error', code: 'bad_weights', param: null },
    });
  });

  test('a task canceled while the request waits answers 409 task_canceled', async () => {
    const pending = postJson(`${server.url}/v1/images/generations`, { prompt: 'block', size: '256x256' });
    const running = await waitFor('the blocking task to run', () => dbTasks(server).find((t) => t.state === 'running'));
    const cancel = await request(`${server.url}/v1/images/tasks/${running.id}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    const res = await pending;
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('x-task-id'), running.id);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    assert.deepEqual(res.body, {
      error: {
        message: `Task ${running.id} was canceled before it finished. Submit the request again if you still want the image.`,
        type: 'conflict_error', code: 'task_canceled', param: null,
      },
    });
  });

  test('/v1/models names a Hugging Face model by its short id, owned by its publisher', async () => {
    const list = await getJson(`${server.url}/v1/models`);
    assert.equal(list.status, 200);
    assert.equal(list.body.object, 'list');
    assert.equal(list.body.data.length, 1);
    const { created, ...rest } = list.body.data[0];
    assert.deepEqual(rest, { id: 'z-image-turbo', object: 'model', owned_by: 'Tongyi-MAI' });
    assert.ok(Number.isInteger(created));
    const one = await getJson(`${server.url}/v1/models/z-image-turbo`);
    assert.deepEqual(one.body, list.body.data[0]);
    const byFullName = await getJson(`${server.url}/v1/models/${encodeURIComponent('Tongyi-MAI/Z-Image-Turbo')}`);
    assert.deepEqual(byFullName.body, list.body.data[0]);
  });
});

describe('OpenAI endpoints: disconnects, timeouts and shutdown', () => {
  const body = (steps: number) => JSON.stringify({ prompt: 'slow', size: '256x256', num_inference_steps: steps });
  const post = (url: string, steps: number, signal?: AbortSignal) =>
    fetch(`${url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(steps), signal });

  test('a client that disconnects while its task is queued cancels it; one whose task runs does not', async (t) => {
    const slow = await startTestServer({ syntheticStepMs: 50 }, { shutdownGraceMs: 0 });
    t.after(() => slow.close());
    // 60 steps x 50 ms: the worker stays busy long enough for the queued cases, even on a slow machine.
    const first = await postJson(`${slow.url}/v1/images/async_generate`, { prompt: 'occupy the worker', size: '256x256', num_inference_steps: 60 });
    const firstId: string = first.body.task_id;
    await waitFor('the first task to run', () => (stateOf(slow, firstId) === 'running' ? true : undefined));

    const queuedAbort = new AbortController();
    const queuedReq = post(slow.url, 4, queuedAbort.signal).catch((err: Error) => err);
    const queued = await waitFor('the sync task to be queued', () => dbTasks(slow).find((r) => r.id !== firstId && r.state === 'queued'));
    queuedAbort.abort();
    assert.equal(((await queuedReq) as Error).name, 'AbortError');
    await waitFor('the queued sync task to be canceled', () => (stateOf(slow, queued.id) === 'canceled' ? true : undefined));
    assert.equal(stateOf(slow, firstId), 'running', 'the other task is untouched');

    // With an Idempotency-Key a retry may come back for the task, so a disconnect leaves it queued.
    const keyedAbort = new AbortController();
    const keyedReq = fetch(`${slow.url}/v1/images/generations`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'retry-me' }, body: body(2), signal: keyedAbort.signal,
    }).catch((err: Error) => err);
    const keyed = await waitFor('the keyed sync task to be queued', () => dbTasks(slow).find((r) => r.id !== firstId && r.id !== queued.id));
    keyedAbort.abort();
    assert.equal(((await keyedReq) as Error).name, 'AbortError');
    const retried = await request(`${slow.url}/v1/images/generations`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'retry-me' }, body: body(2),
    });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.headers.get('x-task-id'), keyed.id, 'the retry got the same task, completed');

    const runningAbort = new AbortController();
    const runningReq = post(slow.url, 10, runningAbort.signal).catch((err: Error) => err);
    const known = new Set([firstId, queued.id]);
    const second = await waitFor('the second sync task to run', () => dbTasks(slow).find((r) => !known.has(r.id) && r.state === 'running'));
    runningAbort.abort();
    assert.equal(((await runningReq) as Error).name, 'AbortError');
    const done = await pollTask(slow.url, second.id);
    assert.equal(done.status, 'completed', 'a running task keeps running to completion');
  });

  test('a task that outlives ZIMAGE_SYNC_TIMEOUT_SECONDS answers 504 timeout with its id; it keeps running', async (t) => {
    const slow = await startTestServer({ syntheticStepMs: 50, syncTimeoutSeconds: 0.2 }, { shutdownGraceMs: 0 });
    t.after(() => slow.close());
    const res = await request(`${slow.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(10) });
    assert.equal(res.status, 504);
    const id = res.headers.get('x-task-id')!;
    assert.match(id, TASK_ID);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    assert.deepEqual(res.body, {
      error: {
        message: `Task ${id} did not finish within 0.2 s (ZIMAGE_SYNC_TIMEOUT_SECONDS). It keeps running: ` +
          `Poll GET ${slow.url}/v1/images/tasks/${id} until "status" is "completed", then read data[].`,
        type: 'server_error', code: 'timeout', param: null,
      },
    });
    const done = await pollTask(slow.url, id);
    assert.equal(done.status, 'completed');
    assert.equal(done.data.length, 1);
  });

  test('a server shutting down answers waiting requests 503 shutting_down at once; the task stays queued', async () => {
    const slow = await startTestServer({ syntheticStepMs: 50 }, { shutdownGraceMs: 0 });
    let closed = false;
    try {
      const pending = request(`${slow.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(100) });
      const task = await waitFor('the task to run', () => dbTasks(slow).find((r) => r.state === 'running'));
      const closing = slow.close();
      const res = await pending;
      await closing;
      closed = true;
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('x-task-id'), task.id);
      assert.equal(res.body.error.code, 'shutting_down');
      assert.match(res.body.error.message, new RegExp(`Task ${task.id} is saved in the queue`));
      assert.equal(stateOf(slow, task.id), 'queued', 'handed back for the next start');
    } finally {
      if (!closed) await slow.close();
    }
  });
});
