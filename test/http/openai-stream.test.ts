/**
 * OpenAI image streaming and what current OpenAI image clients send, driven by the official
 * `openai` SDK exactly as an application uses it (only baseURL changed): `stream: true` with 0
 * and 2 partial images for generate and edit, errors mid-stream, a disconnect, the b64_json
 * default, quality as steps, and the clear 400s (transparent background, several input images,
 * variations).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import OpenAI, { toFile } from 'openai';
import type { ImageEditStreamEvent, ImageGenStreamEvent } from 'openai/resources/images';
import sharp from 'sharp';
import { EngineError } from '../../src/errors.js';
import type { Engine, EngineContext, EngineState, Job, RawImage } from '../../src/interfaces.js';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import { getJson, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

async function formatOf(b64: string): Promise<[string | undefined, number | undefined, number | undefined]> {
  const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
  return [meta.format, meta.width, meta.height];
}

async function all<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

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

const COMMON_KEYS = ['b64_json', 'background', 'created_at', 'output_format', 'quality', 'size', 'type'];

describe('OpenAI SDK streaming, unmodified', () => {
  let server: TestServer;
  let client: OpenAI;
  let png: Buffer;
  before(async () => {
    // 60 ms a step: the previews (every 2 steps, the default) come well before the image.
    server = await startTestServer({ syntheticStepMs: 60 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    png = await solidPng(320, 240, [200, 30, 30]);
  });
  after(() => server.close());

  test('images.generate stream, partial_images 0: one image_generation.completed with the image and usage', async () => {
    const stream = await client.images.generate({ prompt: 'a lighthouse at dusk', size: '512x256' as '1024x1024', stream: true, partial_images: 0 });
    const events: ImageGenStreamEvent[] = await all(stream);
    assert.deepEqual(events.map((e) => e.type), ['image_generation.completed']);
    const done = events[0] as OpenAI.Images.ImageGenCompletedEvent;
    assert.deepEqual(Object.keys(done).filter((k) => k !== 'seed').sort(), [...COMMON_KEYS, 'usage'].sort());
    assert.deepEqual(await formatOf(done.b64_json), ['png', 512, 256]);
    assert.equal(done.size as string, '512x256');
    assert.equal(done.output_format, 'png');
    assert.equal(done.quality, 'auto');
    assert.equal(done.background, 'opaque');
    assert.ok(Math.abs(done.created_at - Date.now() / 1000) < 60);
    assert.deepEqual(done.usage, { input_tokens: 0, input_tokens_details: { image_tokens: 0, text_tokens: 0 }, output_tokens: 0, total_tokens: 0 });
  });

  test('images.generate stream, partial_images 2: two partial images (the live previews, in the output format), then the image', async () => {
    const stream = await client.images.generate({
      prompt: 'a lighthouse at dusk', size: '1024x768' as '1024x1024', stream: true, partial_images: 2, output_format: 'jpeg', quality: 'high',
    });
    const events: ImageGenStreamEvent[] = await all(stream);
    assert.deepEqual(events.map((e) => e.type), ['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    const partials = events.slice(0, 2) as OpenAI.Images.ImageGenPartialImageEvent[];
    assert.deepEqual(partials.map((p) => p.partial_image_index), [0, 1]);
    for (const p of partials) {
      assert.deepEqual(Object.keys(p).sort(), [...COMMON_KEYS, 'partial_image_index'].sort());
      assert.deepEqual(await formatOf(p.b64_json), ['jpeg', 256, 192], 'a small preview, in the requested format');
      assert.equal(p.output_format, 'jpeg');
      assert.equal(p.quality, 'high');
      assert.equal(p.size as string, '1024x768');
    }
    assert.notEqual(partials[0].b64_json, partials[1].b64_json, 'two different stages');
    const done = events[2] as OpenAI.Images.ImageGenCompletedEvent;
    assert.deepEqual(await formatOf(done.b64_json), ['jpeg', 1024, 768]);
  });

  test('images.edit stream, partial_images 0 and 2', async () => {
    const image = await toFile(png, 'red.png', { type: 'image/png' });
    const plain: ImageEditStreamEvent[] = await all(await client.images.edit({ image, prompt: 'make it blue', size: '256x256' as '1024x1024', stream: true }));
    assert.deepEqual(plain.map((e) => e.type), ['image_edit.completed']);
    assert.deepEqual(await formatOf((plain[0] as OpenAI.Images.ImageEditCompletedEvent).b64_json), ['png', 256, 256]);

    const events: ImageEditStreamEvent[] = await all(await client.images.edit({
      image: await toFile(png, 'red.png', { type: 'image/png' }), prompt: 'make it blue', size: '512x512' as '1024x1024', stream: true, partial_images: 2,
      output_format: 'webp',
    }));
    assert.deepEqual(events.map((e) => e.type), ['image_edit.partial_image', 'image_edit.partial_image', 'image_edit.completed']);
    const partials = events.slice(0, 2) as OpenAI.Images.ImageEditPartialImageEvent[];
    assert.deepEqual(partials.map((p) => p.partial_image_index), [0, 1]);
    for (const p of partials) assert.deepEqual(await formatOf(p.b64_json), ['webp', 256, 256]);
    const done = events[2] as OpenAI.Images.ImageEditCompletedEvent;
    assert.deepEqual(Object.keys(done).filter((k) => k !== 'seed').sort(), [...COMMON_KEYS, 'usage'].sort());
    assert.deepEqual(await formatOf(done.b64_json), ['webp', 512, 512]);
  });

  test('stream with n 2: one completed event per image, each with its seed; response_format url still streams base64', async () => {
    const stream = await client.images.generate({
      prompt: 'two cats', n: 2, size: '256x256' as '1024x1024', stream: true, response_format: 'url', seed: 7,
    } as OpenAI.Images.ImageGenerateParamsStreaming);
    const events = (await all(stream)) as OpenAI.Images.ImageGenCompletedEvent[];
    assert.deepEqual(events.map((e) => e.type), ['image_generation.completed', 'image_generation.completed']);
    assert.deepEqual(events.map((e) => (e as unknown as { seed: number }).seed), [7, 8]);
    for (const e of events) assert.deepEqual(await formatOf(e.b64_json), ['png', 256, 256]);
  });

  test('quality is a documented share of the default steps (low 4, medium 6, high 8 on an 8-step model); steps given win', async () => {
    const steps = async (body: Record<string, unknown>) => {
      const { response } = await client.images.generate({ prompt: 'a fox', size: '256x256', ...body } as OpenAI.Images.ImageGenerateParamsNonStreaming).withResponse();
      const id = response.headers.get('x-task-id')!;
      const task = await getJson(`${server.url}/v1/images/tasks/${id}`);
      // The steps the engine ran, as the finished row records them.
      const db = new Database(path.join(server.dataDir, 'zimage.db'), { readonly: true, fileMustExist: true });
      try {
        const row = db.prepare('SELECT progress_total AS total FROM tasks WHERE id = ?').get(id) as { total: number };
        return [task.body.request.num_inference_steps, row.total];
      } finally {
        db.close();
      }
    };
    assert.deepEqual(await steps({ quality: 'low' }), [4, 4]);
    assert.deepEqual(await steps({ quality: 'medium' }), [6, 6]);
    assert.deepEqual(await steps({ quality: 'high' }), [undefined, 8]);
    assert.deepEqual(await steps({ quality: 'auto' }), [undefined, 8]);
    assert.deepEqual(await steps({ quality: 'standard' }), [undefined, 8]);
    assert.deepEqual(await steps({ quality: 'low', num_inference_steps: 3 }), [3, 3]);
    const res = await client.images.generate({ prompt: 'a fox', size: '256x256', quality: 'low' });
    assert.equal(res.quality, 'low');
    await assert.rejects(client.images.generate({ prompt: 'a fox', quality: 'ultra' as 'low' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'invalid_quality');
      return true;
    });
  });

  test('answers are b64_json by default, like current OpenAI image models; url when asked for', async () => {
    const res = await client.images.generate({ prompt: 'a lighthouse', size: '256x256' });
    assert.equal(res.data?.[0].url, undefined);
    assert.deepEqual(await formatOf(res.data![0].b64_json!), ['png', 256, 256]);
    assert.equal(res.background, 'opaque');
    assert.equal(res.quality, 'auto');
    const edit = await client.images.edit({ image: await toFile(png, 'red.png', { type: 'image/png' }), prompt: 'make it blue', size: '256x256' as '1024x1024' });
    assert.ok(edit.data?.[0].b64_json);
    const url = await client.images.generate({ prompt: 'a lighthouse', size: '256x256', response_format: 'url' });
    assert.match(url.data![0].url!, /\/outputs\/gen_[a-f0-9]{32}\.png$/);
    // The async skill routes keep url, as their contract says.
    const asyncTask = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a lighthouse', size: '256x256' });
    const polled = await getJson(`${server.url}/v1/images/tasks/${asyncTask.body.task_id}?wait=30`);
    assert.ok(polled.body.data[0].url);
    assert.equal(polled.body.data[0].b64_json, undefined);
  });

  test('what the engine cannot do is a 400 that says so: transparent background, several input images, variations', async () => {
    await assert.rejects(client.images.generate({ prompt: 'a logo', background: 'transparent', size: '256x256' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'unsupported_background');
      assert.equal(err.param, 'background');
      assert.match(err.message, /opaque images only/);
      return true;
    });
    for (const background of ['opaque', 'auto'] as const) {
      const ok = await client.images.generate({ prompt: 'a logo', background, size: '256x256' });
      assert.equal(ok.data?.length, 1);
    }
    const images = [await toFile(png, 'a.png', { type: 'image/png' }), await toFile(png, 'b.png', { type: 'image/png' })];
    await assert.rejects(client.images.edit({ image: images, prompt: 'combine them', size: '256x256' as '1024x1024' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'too_many_images');
      assert.equal(err.param, 'image');
      return true;
    });
    await assert.rejects(client.images.createVariation({ image: await toFile(png, 'a.png', { type: 'image/png' }), n: 1 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'unsupported_endpoint');
      assert.match(err.message, /POST \/v1\/images\/edits/);
      return true;
    });
    // Bad streaming options are ordinary 400s, before anything is queued.
    await assert.rejects(client.images.generate({ prompt: 'a fox', stream: true, partial_images: 5 as 3 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.code, 'invalid_partial_images');
      return true;
    });
    const raw = await postJson(`${server.url}/v1/images/generations`, { prompt: 'a fox', stream: 'yes' });
    assert.equal(raw.status, 400);
    assert.equal(raw.body.error.code, 'invalid_stream');
  });

  test('the raw stream is OpenAI\'s SSE: named events, JSON data, x-task-id header, then the end', async () => {
    const res = await fetch(`${server.url}/v1/images/generations`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a kite', size: '256x256', stream: true, partial_images: 1 }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    assert.match(res.headers.get('x-task-id')!, /^[a-f0-9]{32}$/);
    const text = await res.text();
    const frames = text.split('\n\n').filter((f) => f.startsWith('event: '));
    assert.deepEqual(frames.map((f) => /^event: (.*)$/m.exec(f)![1]), ['image_generation.partial_image', 'image_generation.completed']);
    for (const f of frames) assert.equal(JSON.parse(/^data: (.*)$/m.exec(f)![1]).type, /^event: (.*)$/m.exec(f)![1]);
  });
});

/** Fails after a couple of steps, or blocks until canceled. */
class FailingEngine implements Engine {
  readonly name = 'failing';
  readonly synthetic = true;
  private readonly inner = new SyntheticEngine({ stepMs: 20 });
  state(): EngineState { return { state: 'ready', model: 'test' }; }
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  defaultSteps(): number { return 8; }
  async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    if (job.prompt.startsWith('fail')) {
      ctx.onProgress(1, 8);
      await new Promise((r) => setTimeout(r, 50));
      throw new EngineError('bad_weights', 'The model weights are corrupt. Download them again.', false);
    }
    return this.inner.run(job, ctx);
  }
}

describe('OpenAI streaming: failures and disconnects', () => {
  test('a task that fails mid-stream ends the stream with an error event: the SDK raises it with the task\'s code', async (t) => {
    const server = await startTestServer({}, { engine: new FailingEngine() });
    t.after(() => server.close());
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.images.generate({ prompt: 'fail please', size: '256x256', stream: true, partial_images: 2 });
    await assert.rejects(all(stream), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.code, 'bad_weights');
      assert.equal(err.type, 'server_error');
      assert.match(err.message, /weights are corrupt/);
      return true;
    });
    // Raw: the error arrives as an `error` event in OpenAI's error shape, and the stream ends.
    const res = await fetch(`${server.url}/v1/images/generations`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'fail again', size: '256x256', stream: true }),
    });
    const text = await res.text();
    assert.match(text, /^event: error$/m);
    const data = JSON.parse(/^data: (.*)$/m.exec(text.slice(text.indexOf('event: error')))![1]);
    assert.deepEqual(data, {
      type: 'error',
      error: { message: 'The model weights are corrupt. Download them again.', type: 'server_error', code: 'bad_weights', param: null },
    });
  });

  test('a stream that outlives ZIMAGE_SYNC_TIMEOUT_SECONDS ends with a timeout error event; the task keeps running', async (t) => {
    const server = await startTestServer({ syntheticStepMs: 50, syncTimeoutSeconds: 0.2 }, { shutdownGraceMs: 0 });
    t.after(() => server.close());
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.images.generate({ prompt: 'slow', size: '256x256', stream: true });
    await assert.rejects(all(stream), (err: unknown) => err instanceof OpenAI.APIError && err.code === 'timeout');
  });

  test('a client that drops the stream while its task is queued cancels it; keyed or running tasks are left alone', async (t) => {
    const server = await startTestServer({ syntheticStepMs: 50 }, { shutdownGraceMs: 0 });
    t.after(() => server.close());
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const first = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'occupy the worker', size: '256x256', num_inference_steps: 60 });
    const firstId: string = first.body.task_id;
    await waitFor('the first task to run', () => (dbTasks(server).find((r) => r.id === firstId)?.state === 'running' ? true : undefined));

    const stream = await client.images.generate({ prompt: 'queued stream', size: '256x256', stream: true, partial_images: 1 });
    const queued = await waitFor('the streamed task to be queued', () => dbTasks(server).find((r) => r.id !== firstId && r.state === 'queued'));
    stream.controller.abort();
    await waitFor('the dropped task to be canceled', () => (dbTasks(server).find((r) => r.id === queued.id)?.state === 'canceled' ? true : undefined));
    assert.equal(dbTasks(server).find((r) => r.id === firstId)?.state, 'running', 'the other task is untouched');

    // With an Idempotency-Key a retry may come back for the task: dropping the stream leaves it queued.
    const keyed = await client.images.generate({ prompt: 'keyed stream', size: '256x256', stream: true }, { headers: { 'Idempotency-Key': 'stream-1' } });
    const keyedTask = await waitFor('the keyed task', () => dbTasks(server).find((r) => r.id !== firstId && r.id !== queued.id));
    keyed.controller.abort();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dbTasks(server).find((r) => r.id === keyedTask.id)?.state, 'queued');

    // Let the worker go on; a running streamed task whose client leaves runs to completion.
    assert.equal((await request(`${server.url}/v1/images/tasks/${firstId}/cancel`, { method: 'POST' })).status, 200);
    const running = await client.images.generate({ prompt: 'running stream', size: '256x256', stream: true, partial_images: 0 }, { headers: {} });
    const known = new Set([firstId, queued.id, keyedTask.id]);
    const runningTask = await waitFor('the streamed task to run', () => dbTasks(server).find((r) => !known.has(r.id) && r.state === 'running'));
    running.controller.abort();
    await waitFor('the dropped running task to complete', () => (dbTasks(server).find((r) => r.id === runningTask.id)?.state === 'completed' ? true : undefined));
  });
});
