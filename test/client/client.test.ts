/** The typed client against a real server over loopback: every call, its errors, and what it sends where. */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { AbortedError, ApiResponseError, ServerUnreachableError, ZImageClient, type Task } from '../../src/client/index.js';
import { solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('typed client', () => {
  let server: TestServer;
  let client: ZImageClient;

  before(async () => {
    server = await startTestServer({ syntheticStepMs: 20 });
    client = new ZImageClient({ url: server.url });
  });
  after(() => server.close());

  test('health and models', async () => {
    const health = await client.health();
    assert.equal(health.status, 'ok');
    assert.equal(health.engine.synthetic, true);
    const models = await client.models();
    assert.equal(models.object, 'list');
    assert.ok(models.data.length >= 1);
  });

  test('generate, then wait: every update arrives in order and the result downloads', async () => {
    const submitted = await client.generate({ prompt: 'client test', size: '256x256', seed: 7, num_inference_steps: 4 });
    assert.equal(submitted.status, 'processing');
    const events: string[] = [];
    const steps: number[] = [];
    const task = await client.wait(submitted.task_id, {
      onUpdate: (t, e) => {
        events.push(e);
        if (t.status === 'processing' && t.stage === 'running') steps.push(t.step ?? 0);
      },
    });
    assert.equal(task.status, 'completed');
    assert.equal(events.at(-1), 'completed');
    assert.ok(steps.length >= 2, `saw steps ${steps}`);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
    assert.deepEqual(task.request, { prompt: 'client test', size: '256x256', n: 1, seed: 7, num_inference_steps: 4, output_format: 'png' });
    const bytes = await client.imageBytes(task.data![0]);
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
  });

  test('b64_json images decode to the same bytes the URL serves', async () => {
    const { task_id } = await client.generate({ prompt: 'inline', size: '256x256', seed: 3, response_format: 'b64_json' });
    const task = await client.wait(task_id);
    assert.ok(task.data![0].b64_json);
    const inline = await client.imageBytes(task.data![0]);
    const listed = (await client.list({ status: 'completed' })).data.find((t) => t.task_id === task_id)!;
    assert.deepEqual(await client.imageBytes(listed.data![0]), inline);
  });

  test('edit uploads the image and the mask', async () => {
    const image = await solidPng(256, 256, [200, 30, 30]);
    const mask = await solidPng(256, 256, [255, 255, 255]);
    const { task_id } = await client.edit({ image, mask, prompt: 'a blue square', strength: 0.5 });
    const task = await client.wait(task_id);
    assert.equal(task.status, 'completed');
    assert.equal(task.kind, 'edit');
    assert.equal(task.request?.strength, 0.5);
    assert.equal(task.request?.size, '1024x1024'); // a square input's default: its aspect at about 1 MP
  });

  test('list pages through every task with the cursor', async () => {
    const seen: string[] = [];
    for await (const t of client.tasks({ limit: 1 })) seen.push(t.task_id);
    const page = await client.list({ limit: 100 });
    assert.deepEqual(seen, page.data.map((t) => t.task_id));
    assert.ok(seen.length >= 3);
  });

  test('a refusal is an ApiResponseError with the server\'s code, param and message', async () => {
    await assert.rejects(client.generate({ prompt: 'x', size: '100x100' }), (err: unknown) => {
      assert.ok(err instanceof ApiResponseError);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'invalid_size');
      assert.equal(err.param, 'size');
      assert.match(err.message, /multiple of 16/);
      return true;
    });
    await assert.rejects(client.get('0123456789abcdef0123456789abcdef'), (err: unknown) =>
      err instanceof ApiResponseError && err.status === 404 && err.code === 'task_not_found');
    await assert.rejects(client.wait('0123456789abcdef0123456789abcdef'), (err: unknown) =>
      err instanceof ApiResponseError && err.code === 'task_not_found');
  });

  test('wait with a timeout resolves with the task still processing; an abort rejects', async () => {
    const slow = await startTestServer({ syntheticStepMs: 200 });
    try {
      const c = new ZImageClient({ url: slow.url });
      const { task_id } = await c.generate({ prompt: 'slow', size: '256x256', num_inference_steps: 20 });
      const started = Date.now();
      const task: Task = await c.wait(task_id, { timeoutMs: 300 });
      assert.equal(task.status, 'processing');
      assert.ok(Date.now() - started < 3000);
      await assert.rejects(c.wait(task_id, { signal: AbortSignal.timeout(200) }), AbortedError);
      const canceled = await c.cancel(task_id);
      assert.ok(canceled.status === 'canceled' || canceled.cancel_requested);
      assert.equal((await c.wait(task_id)).status, 'canceled');
    } finally {
      await slow.close();
    }
  });

  test('an unreachable server fails fast with ServerUnreachableError naming the address', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    await assert.rejects(new ZImageClient({ url }).health(), (err: unknown) => {
      assert.ok(err instanceof ServerUnreachableError);
      assert.match(err.message, new RegExp(`${url}.*connection refused.*ZIMAGE_URL`));
      return true;
    });
    assert.ok(Date.now() - started < 2000);
  });

  test('a server that accepts but never answers times out', async () => {
    const silent = net.createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      await assert.rejects(new ZImageClient({ url, timeoutMs: 300 }).health(), (err: unknown) =>
        err instanceof ServerUnreachableError && /no answer within/.test(err.message));
    } finally {
      silent.close();
    }
  });
});

describe('typed client with API keys', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer({ apiKeys: 'alice:alice-key,bob:bob-key' }); });
  after(() => server.close());

  test('no key or a wrong key is a 401 ApiResponseError; the right key works and scopes tasks', async () => {
    for (const apiKey of [undefined, 'wrong']) {
      await assert.rejects(new ZImageClient({ url: server.url, apiKey }).list(), (err: unknown) =>
        err instanceof ApiResponseError && err.status === 401 && err.code === 'invalid_api_key');
    }
    const alice = new ZImageClient({ url: server.url, apiKey: 'alice-key' });
    const bob = new ZImageClient({ url: server.url, apiKey: 'bob-key' });
    const { task_id } = await alice.generate({ prompt: 'mine', size: '256x256' });
    assert.equal((await alice.wait(task_id)).status, 'completed');
    await assert.rejects(bob.get(task_id), (err: unknown) => err instanceof ApiResponseError && err.status === 404);
    assert.deepEqual((await bob.list()).data, []);
  });

  test('the key is sent to this server only, never to another origin', async () => {
    const seen: Array<string | undefined> = [];
    const other = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end('bytes');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const alice = new ZImageClient({ url: server.url, apiKey: 'alice-key' });
      const bytes = await alice.download(`http://127.0.0.1:${(other.address() as net.AddressInfo).port}/image.png`);
      assert.equal(new TextDecoder().decode(bytes), 'bytes');
      assert.deepEqual(seen, [undefined]);
    } finally {
      other.close();
    }
  });
});
