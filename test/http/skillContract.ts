/**
 * The skill document (../shared/seed-skill-z_image.md), followed word for word against
 * a real server on loopback: health, generate, poll, download, b64_json, edit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Config } from '../../src/config.js';
import { readPngTextChunks } from '../../src/images/pngText.js';
import type { TaskStore } from '../../src/interfaces.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';

/** What the suite needs of a server: where it listens, and how to stop it. */
export interface ContractServer {
  url: string;
  queue: Pick<TaskStore, 'get'>;
  close(): Promise<void>;
}

/**
 * The suite, for any deployment: the embedded server (contract.test.ts) and a fleet's API
 * node with its workers elsewhere (contract-fleet.test.ts). `backend` is what /health names.
 */
export function skillContract(label: string, backend: string, start: (over?: Partial<Config>) => Promise<ContractServer>): void {
describe(`the agent skill contract: ${label}`, () => {
  let server: ContractServer;
  before(async () => { server = await start(); });
  after(() => server.close());

  test('GET /health answers {"status": "ok"}', async () => {
    const res = await getJson(`${server.url}/health`);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assert.equal(res.body.engine.name, 'synthetic');
    assert.equal(res.body.engine.synthetic, true);
    assert.deepEqual(res.body.queue, { backend, queued: 0, running: 0 });
  });

  test('generate: queue, poll until completed, download the PNG from data[].url', async () => {
    const submit = await postJson(`${server.url}/v1/images/async_generate`, {
      prompt: 'A happy cat sitting on a rug, highly detailed, photorealistic',
    });
    assert.equal(submit.status, 200);
    assert.match(submit.body.task_id, /^[a-f0-9]{32}$/);
    assert.equal(submit.body.status, 'processing');
    assert.equal(typeof submit.body.message, 'string');

    const done = await pollTask(server.url, submit.body.task_id);
    assert.equal(done.status, 'completed');
    assert.equal(done.data.length, 1);
    const url: string = done.data[0].url;
    assert.match(url, new RegExp(`^${server.url}/outputs/gen_[a-f0-9]{32}\\.png$`));
    assert.equal(typeof done.data[0].seed, 'number');

    const image = await fetch(url);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/png');
    const bytes = Buffer.from(await image.arrayBuffer());
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 1024]);
    // Synthetic output is labelled in its metadata, never passed off as a model's.
    assert.equal(readPngTextChunks(bytes).Synthetic, 'true');
  });

  test('while processing, the poll says "processing" with stage and progress fields', async () => {
    const slow = await start({ syntheticStepMs: 30 });
    try {
      const a = await postJson(`${slow.url}/v1/images/async_generate`, { prompt: 'first', size: '256x256' });
      const b = await postJson(`${slow.url}/v1/images/async_generate`, { prompt: 'second', size: '256x256' });
      const polled = await getJson(`${slow.url}/v1/images/tasks/${b.body.task_id}`);
      assert.equal(polled.status, 200);
      assert.equal(polled.body.status, 'processing');
      assert.ok(['queued', 'running'].includes(polled.body.stage));
      for (const k of ['queue_position', 'progress', 'step', 'total_steps', 'eta_seconds']) assert.ok(k in polled.body, k);
      // Behind the first task: position 0 once a worker took it, 1 while it still waits (in a fleet, dispatch takes a few ms).
      if (polled.body.stage === 'queued') assert.ok([0, 1].includes(polled.body.queue_position), String(polled.body.queue_position));
      const first = await pollTask(slow.url, a.body.task_id);
      assert.equal(first.status, 'completed');
      assert.equal((await pollTask(slow.url, b.body.task_id)).status, 'completed');
    } finally {
      await slow.close();
    }
  });

  test('"response_format": "b64_json" gives data[].b64_json, a base64 PNG, instead of a url', async () => {
    const submit = await postJson(`${server.url}/v1/images/async_generate`, {
      prompt: 'A happy cat', response_format: 'b64_json', size: '256x512', n: 2, seed: 7,
    });
    const done = await pollTask(server.url, submit.body.task_id);
    assert.equal(done.status, 'completed');
    assert.equal(done.data.length, 2, 'every one of the n images is returned');
    assert.deepEqual(done.data.map((d: any) => d.seed), [7, 8]);
    for (const item of done.data) {
      assert.equal(item.url, undefined);
      const meta = await sharp(Buffer.from(item.b64_json, 'base64')).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 512]);
    }
    assert.notEqual(done.data[0].b64_json, done.data[1].b64_json);
  });

  test('edit: multipart image + prompt; the result derives from the upload', async () => {
    const results: Buffer[] = [];
    for (const rgb of [[220, 20, 20], [20, 20, 220]] as const) {
      const png = await solidPng(320, 240, [...rgb]);
      const res = await request(`${server.url}/v1/images/async_edit`, {
        method: 'POST', body: form({ prompt: 'Make the cat sad', seed: '1' }, { image: { data: png } }),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'processing');
      const done = await pollTask(server.url, res.body.task_id);
      assert.equal(done.status, 'completed');
      assert.match(done.data[0].url, /\/outputs\/edit_[a-f0-9]{32}\.png$/);
      const out = Buffer.from(await (await fetch(done.data[0].url)).arrayBuffer());
      const meta = await sharp(out).metadata();
      // No size given: the input's 4:3 aspect is kept at about a megapixel, in multiples of 16.
      assert.deepEqual([meta.width, meta.height], [1184, 880]);
      results.push(out);
    }
    // Same prompt and seed, different uploads: the colours follow the input (the synthetic
    // edit hue-rotates the upload by the same angle for both, keeping them far apart).
    const [red, blue] = await Promise.all(results.map((b) => sharp(b).stats()));
    const distance = [0, 1, 2].reduce((sum, c) => sum + Math.abs(red.channels[c].mean - blue.channels[c].mean), 0);
    assert.ok(distance > 100, `outputs of red and blue inputs differ in colour (distance ${distance.toFixed(1)})`);
  });

  test('edit with JSON: the image as base64 or a data: URL, for clients that cannot send multipart', async () => {
    const png = await solidPng(256, 256, [30, 160, 40]);
    for (const image of [png.toString('base64'), `data:image/png;base64,${png.toString('base64')}`]) {
      const res = await postJson(`${server.url}/v1/images/async_edit`, { prompt: 'Make it autumn', image, size: '256x256', n: 2 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const done = await pollTask(server.url, res.body.task_id);
      assert.equal(done.status, 'completed');
      assert.equal(done.data.length, 2);
      assert.match(done.data[0].url, /\/outputs\/edit_[a-f0-9]{32}\.png$/);
    }
    // Without a size, a JSON edit keeps the input's aspect like a multipart one (2:1 here).
    const wide = await solidPng(600, 300, [30, 160, 40]);
    const res = await postJson(`${server.url}/v1/images/async_edit`, { prompt: 'wide', image: wide.toString('base64') });
    const done = await pollTask(server.url, res.body.task_id);
    assert.deepEqual([done.data[0].width, done.data[0].height], [1456, 720]);
  });

  test('a masked edit defaults to strength 1 (repaint the masked area); an explicit strength wins', async () => {
    const png = await solidPng(256, 256, [90, 90, 90]);
    const mask = await solidPng(256, 256, [255, 255, 255]);
    const strengths: Array<number | undefined> = [];
    const cases: Array<Record<string, string>> = [{ prompt: 'fill it' }, { prompt: 'fill it', strength: '0.3' }, { prompt: 'no mask' }];
    for (const fields of cases) {
      const files: Record<string, { data: Buffer }> = fields.prompt === 'no mask' ? { image: { data: png } } : { image: { data: png }, mask: { data: mask } };
      const res = await request(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form(fields, files) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      strengths.push((await server.queue.get(res.body.task_id))?.params.strength);
      assert.equal((await pollTask(server.url, res.body.task_id)).status, 'completed');
    }
    assert.deepEqual(strengths, [1, 0.3, 0.6]);
  });

  test('unknown task id: HTTP 404 with "status": "failed" so a naive poller stops', async () => {
    for (const id of ['8b9cad0e1f20', 'a'.repeat(32), '..%2F..%2Fetc%2Fpasswd']) {
      const res = await getJson(`${server.url}/v1/images/tasks/${id}`);
      assert.equal(res.status, 404);
      assert.equal(res.body.status, 'failed');
      assert.equal(res.body.error.code, 'task_not_found');
      assert.equal(res.body.error.type, 'not_found_error');
    }
  });

  test('outputs: only files this server made; traversal in any encoding is a 404', async () => {
    const probes = [
      '/outputs/../data/zimage.db', '/outputs/..%2Fzimage.db', '/outputs/%2e%2e%2fzimage.db', '/outputs/..%252Fzimage.db',
      '/outputs/zimage.db', '/outputs/gen_123.png', `/outputs/gen_${'0'.repeat(32)}.png`, '/outputs/%00', '/outputs/',
    ];
    for (const p of probes) {
      const res = await request(`${server.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.equal(typeof res.body.error.code, 'string', p);
    }
  });
});
}
