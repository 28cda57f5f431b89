/**
 * Live previews through the whole server (embedded): `preview` events on the task's SSE stream,
 * the poll answer's `preview` pointer and GET /v1/images/tasks/{id}/preview while the task runs,
 * and nothing of them once it ends: previews are not outputs and are not kept.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ZImageClient, type TaskEventName, type TaskStreamEvent } from '../../src/client/index.js';
import { getJson, pollTask, postJson, request } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** 8 steps of 40 ms: a preview every 2 steps (the default) has time to go out. */
const SLOW = { syntheticStepMs: 40 };

async function collect(client: ZImageClient, id: string): Promise<TaskStreamEvent[]> {
  const events: TaskStreamEvent[] = [];
  for await (const e of client.events(id)) events.push(e);
  return events;
}

/** Files under the storage's outputs/ (previews must never land there). */
function outputFiles(server: TestServer): string[] {
  const dir = path.join(server.dataDir, 'outputs');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

describe('live previews, embedded', () => {
  let server: TestServer;
  let client: ZImageClient;
  before(async () => {
    server = await startTestServer(SLOW);
    client = new ZImageClient({ url: server.url });
  });
  after(() => server.close());

  test('SSE: preview events while the task runs (task JSON plus an inline WebP of at most 256 px), never after the end', async () => {
    const submitted = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a lighthouse', size: '1024x512', n: 2 });
    const id: string = submitted.body.task_id;
    const events = await collect(client, id);
    const names = events.map((e) => e.event);
    assert.equal(names.at(-1), 'completed');
    const previews = events.filter((e) => e.event === 'preview');
    assert.ok(previews.length >= 2, `previews arrived: ${names.join(' ')}`);
    let last = 0;
    for (const e of previews) {
      const p = e.task.preview!;
      assert.equal(e.task.status, 'processing', 'a preview event is a processing task, so readers of task events go on');
      assert.equal(e.task.task_id, id);
      assert.equal(p.total_steps, 16, 'steps over both images');
      assert.ok(p.step > last && p.step < 16, `steps go up and stop before the last: ${p.step}`);
      last = p.step;
      assert.deepEqual([p.width, p.height, p.output_format, p.url], [256, 128, 'webp', undefined]);
      const meta = await sharp(Buffer.from(p.b64_json!, 'base64')).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 128]);
    }
    assert.ok(names.indexOf('preview') > names.indexOf('started'));
    const final = events.at(-1)!.task;
    assert.equal(final.preview, undefined, 'the final event has no preview');
    assert.equal(final.data?.length, 2, 'previews are not outputs');
    // Gone once the task ended: no pointer on the poll, 404 on the preview URL.
    const polled = await getJson(`${server.url}/v1/images/tasks/${id}`);
    assert.equal(polled.body.preview, undefined);
    const gone = await request(`${server.url}/v1/images/tasks/${id}/preview`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'preview_not_found');
  });

  test('poll: a running task points at its latest preview, which downloads as WebP; previews are never stored', async () => {
    const before = outputFiles(server).length;
    const submitted = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a red barn', size: '512x512', num_inference_steps: 20 });
    const id: string = submitted.body.task_id;
    let pointer: any;
    const deadline = Date.now() + 10_000;
    while (!pointer) {
      const res = await getJson(`${server.url}/v1/images/tasks/${id}`);
      if (res.body.status !== 'processing') assert.fail(`finished before a preview was seen: ${JSON.stringify(res.body)}`);
      pointer = res.body.preview;
      if (Date.now() > deadline) assert.fail('no preview on the poll answer');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(pointer.url, `${server.url}/v1/images/tasks/${id}/preview`);
    assert.equal(pointer.total_steps, 20);
    assert.deepEqual([pointer.width, pointer.height, pointer.output_format], [256, 256, 'webp']);
    const image = await fetch(pointer.url);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/webp');
    assert.equal(image.headers.get('cache-control'), 'no-store');
    assert.ok(Number(image.headers.get('x-preview-step')) >= pointer.step);
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 256]);
    const done = await pollTask(server.url, id);
    assert.equal(done.status, 'completed');
    assert.equal(done.preview, undefined);
    assert.equal(outputFiles(server).length, before + 1, 'one output file: the image, no preview');
    assert.equal((await request(pointer.url)).status, 404);
  });

  test('a watcher that connects mid-run gets the latest preview right after its snapshot; wait() ignores previews', async () => {
    const submitted = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a windmill', size: '256x256', num_inference_steps: 20 });
    const id: string = submitted.body.task_id;
    const deadline = Date.now() + 10_000;
    while ((await getJson(`${server.url}/v1/images/tasks/${id}`)).body.preview === undefined) {
      if (Date.now() > deadline) assert.fail('no preview');
      await new Promise((r) => setTimeout(r, 20));
    }
    const stream = client.events(id);
    const first = (await stream.next()).value as TaskStreamEvent;
    const second = (await stream.next()).value as TaskStreamEvent;
    await stream.return(undefined);
    assert.equal(first.event, 'state');
    assert.equal(second.event, 'preview');
    assert.ok(second.task.preview!.b64_json);

    const seen: TaskEventName[] = [];
    const task = await client.wait(id, { onUpdate: (_t, event) => seen.push(event) });
    assert.equal(task.status, 'completed');
    assert.ok(seen.includes('preview') || seen.includes('progress'), seen.join(' '));
  });

  test('visibility: another API key\'s task preview is "not found", like the task', async (t) => {
    const secured = await startTestServer({ ...SLOW, apiKeys: 'alice:sk-a,bob:sk-b' });
    t.after(() => secured.close());
    const alice = { authorization: 'Bearer sk-a' };
    const submitted = await postJson(`${secured.url}/v1/images/async_generate`, { prompt: 'a kite', size: '256x256', num_inference_steps: 20 }, alice);
    const id: string = submitted.body.task_id;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await request(`${secured.url}/v1/images/tasks/${id}/preview`, { headers: alice });
      if (res.status === 200) break;
      if (Date.now() > deadline) assert.fail('no preview for the owner');
      await new Promise((r) => setTimeout(r, 20));
    }
    const bob = await request(`${secured.url}/v1/images/tasks/${id}/preview`, { headers: { authorization: 'Bearer sk-b' } });
    assert.equal(bob.status, 404);
    assert.equal(bob.body.error.code, 'task_not_found');
    assert.equal((await request(`${secured.url}/v1/images/tasks/${id}/preview`)).status, 401);
  });
});

test('ZIMAGE_PREVIEW_EVERY=0: no preview events, no pointer, 404', async (t) => {
  const server = await startTestServer({ ...SLOW, previewEvery: 0 });
  t.after(() => server.close());
  const submitted = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a boat', size: '256x256' });
  const id: string = submitted.body.task_id;
  const events = await collect(new ZImageClient({ url: server.url }), id);
  assert.ok(events.some((e) => e.event === 'progress'));
  assert.ok(!events.some((e) => e.event === 'preview'), events.map((e) => e.event).join(' '));
  assert.equal((await request(`${server.url}/v1/images/tasks/${id}/preview`)).status, 404);
});
