/**
 * The MCP tools against a real server (synthetic engine, slowed so progress shows), through
 * the official SDK client, once over stdio (`zimage mcp --url …` as a subprocess) and once
 * over Streamable HTTP (the server's own /mcp): the same behaviour either way.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { EditRequest, GenerateRequest, MAX_PROMPT_CHARS } from '../../src/tasks/params.js';
import { solidPng } from '../helpers/http.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import {
  call, closedPort, connectHttp, connectStdio, imagesOf, processingTask, taskIdOf, textOf, untilStatus, urlsOf, type McpConnection,
} from './helpers.js';

const MODES = {
  stdio: (url: string, args: string[] = []) => connectStdio(['--url', url, ...args]),
  http: (url: string) => connectHttp(url),
} as const;

for (const [mode, connect] of Object.entries(MODES)) {
  describe(`MCP over ${mode}`, () => {
    let server: TestServer;
    let mcp: McpConnection;
    before(async () => {
      server = await startTestServer({ syntheticStepMs: 25 });
      mcp = await connect(server.url);
    });
    after(async () => {
      await mcp?.close();
      await server?.close();
    });

    test('lists the five tools, with limits from the server\'s own schemas', async () => {
      const { tools } = await mcp.client.listTools();
      const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
      assert.deepEqual(Object.keys(byName).sort(), ['cancel_task', 'edit_image', 'generate_image', 'get_task', 'list_tasks']);
      const gen = byName.generate_image.inputSchema as any;
      assert.deepEqual(gen.required, ['prompt']);
      assert.equal(gen.properties.prompt.maxLength, MAX_PROMPT_CHARS);
      assert.equal(gen.properties.size.pattern, GenerateRequest.properties.size.pattern);
      assert.deepEqual([gen.properties.n.minimum, gen.properties.n.maximum], [1, 4]);
      assert.deepEqual([gen.properties.num_inference_steps.minimum, gen.properties.num_inference_steps.maximum], [1, 100]);
      assert.equal(gen.properties.seed.maximum, GenerateRequest.properties.seed.maximum);
      assert.deepEqual(gen.properties.output_format.enum, ['png', 'jpeg', 'webp']);
      for (const field of ['size', 'seed', 'n', 'num_inference_steps', 'negative_prompt']) assert.ok(gen.properties[field].description, field);
      const edit = byName.edit_image.inputSchema as any;
      assert.deepEqual(edit.required.sort(), ['image', 'prompt']);
      assert.equal(edit.properties.strength.maximum, EditRequest.properties.strength.maximum);
      assert.match(byName.edit_image.description!, /no instruction-following edit model/);
      assert.match(edit.properties.image.description, /never fetched/);
      assert.match(byName.generate_image.description!, /get_task/);
      assert.equal(byName.get_task.annotations?.readOnlyHint, true);
    });

    let firstUrl: string;

    test('generate_image waits with progress and answers the images with URL, seed and size', async () => {
      const { result, progress } = await call(mcp.client, 'generate_image', {
        prompt: 'a lighthouse at dusk', size: '256x256', seed: 42, num_inference_steps: 6, n: 2,
      });
      assert.equal(result.isError, undefined, textOf(result));
      const images = imagesOf(result);
      assert.equal(images.length, 2);
      for (const image of images) {
        assert.equal(image.mimeType, 'image/png');
        const meta = await sharp(Buffer.from(image.data, 'base64')).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
      }
      const text = textOf(result);
      assert.match(text, /seed 42, 256x256, png/);
      assert.match(text, /seed 43, 256x256, png/);
      const urls = urlsOf(result);
      assert.equal(urls.length, 2);
      assert.ok(urls[0].startsWith(`${server.url}/outputs/`), urls[0]);
      // The image content is the very file the URL serves.
      const served = Buffer.from(await (await fetch(urls[0])).arrayBuffer());
      assert.deepEqual(served, Buffer.from(images[0].data, 'base64'));
      firstUrl = urls[0];

      assert.ok(progress.length >= 4, JSON.stringify(progress));
      const values = progress.map((p) => p.progress);
      assert.deepEqual(values, [...values].sort((a, b) => a - b));
      assert.equal(new Set(values).size, values.length, 'strictly increasing');
      assert.ok(progress.every((p) => p.total === 100));
      assert.ok(progress.some((p) => /step \d+ of \d+/.test(p.message ?? '')), JSON.stringify(progress));
      assert.equal(progress.at(-1)!.progress, 100);
    });

    test('edit_image takes a URL from a previous result', async () => {
      assert.ok(firstUrl);
      const { result } = await call(mcp.client, 'edit_image', {
        image: firstUrl, prompt: 'the same lighthouse under snow', strength: 0.5, num_inference_steps: 3, output_format: 'webp',
      });
      assert.equal(result.isError, undefined, textOf(result));
      const [image] = imagesOf(result);
      assert.equal(image.mimeType, 'image/webp');
      const id = taskIdOf(result)!;
      const task = await (await fetch(`${server.url}/v1/images/tasks/${id}`)).json() as any;
      assert.equal(task.kind, 'edit');
      assert.equal(task.request.strength, 0.5);
      assert.equal(task.request.size, '1024x1024'); // the square input's aspect at about 1 MP
    });

    test('edit_image takes base64 and data: URLs, with a mask', async () => {
      const png = await solidPng(64, 64, [10, 200, 30]);
      const mask = await solidPng(64, 64, [255, 255, 255]);
      const { result } = await call(mcp.client, 'edit_image', {
        image: `data:image/png;base64,${png.toString('base64')}`, mask: mask.toString('base64'),
        prompt: 'a green field', size: '256x256', num_inference_steps: 2,
      });
      assert.equal(result.isError, undefined, textOf(result));
      const task = await (await fetch(`${server.url}/v1/images/tasks/${taskIdOf(result)}`)).json() as any;
      assert.equal(task.request.strength, 1); // a masked edit repaints the masked area
    });

    test('bad input comes back as a tool error with the server\'s code and message', async () => {
      const size = await call(mcp.client, 'generate_image', { prompt: 'x', size: '100x100' });
      assert.equal(size.result.isError, true);
      assert.match(textOf(size.result), /invalid_size.*multiple of 16/);
      const n = await call(mcp.client, 'generate_image', { prompt: 'x', n: 9 });
      assert.equal(n.result.isError, true);
      assert.match(textOf(n.result), /invalid_n/);
      const empty = await call(mcp.client, 'generate_image', { prompt: '   ' });
      assert.match(textOf(empty.result), /invalid_prompt/);
      const type = await call(mcp.client, 'generate_image', { prompt: 'x', n: 'two' });
      assert.equal(type.result.isError, true);
      assert.match(textOf(type.result), /n/);
      const notImage = await call(mcp.client, 'edit_image', { image: Buffer.from('not an image at all, just some text that is long enough').toString('base64'), prompt: 'x' });
      assert.equal(notImage.result.isError, true);
      assert.match(textOf(notImage.result), /invalid_image/);
      const missing = await call(mcp.client, 'get_task', { task_id: '0123456789abcdef0123456789abcdef' });
      assert.equal(missing.result.isError, true);
      assert.match(textOf(missing.result), /task_not_found/);
    });

    test('edit_image never fetches a URL that is not one of this server\'s images', async () => {
      let hits = 0;
      const { createServer } = await import('node:http');
      const bait = createServer((_req, res) => { hits++; res.end('x'); });
      await new Promise<void>((resolve) => bait.listen(0, '127.0.0.1', resolve));
      try {
        const port = (bait.address() as { port: number }).port;
        for (const image of [`http://127.0.0.1:${port}/cat.png`, `http://127.0.0.1:${port}/outputs/whatever.png`, 'ftp://example.com/x.png']) {
          const { result } = await call(mcp.client, 'edit_image', { image, prompt: 'x' });
          assert.equal(result.isError, true, image);
          assert.match(textOf(result), /unsupported_image_url.*never fetched/, image);
        }
        // A well-formed output name elsewhere is still looked up on this server only.
        const { result } = await call(mcp.client, 'edit_image', { image: `http://127.0.0.1:${port}/outputs/gen_${'0'.repeat(32)}.png`, prompt: 'x' });
        assert.equal(result.isError, true);
        assert.match(textOf(result), /file_not_found/);
        assert.equal(hits, 0);
      } finally {
        bait.close();
      }
    });

    test('get_task, list_tasks and cancel_task', async () => {
      const { result } = await call(mcp.client, 'generate_image', { prompt: 'a list entry', size: '256x256', num_inference_steps: 1 });
      const id = taskIdOf(result)!;
      const got = await call(mcp.client, 'get_task', { task_id: id });
      assert.equal(got.result.isError, undefined);
      assert.equal(imagesOf(got.result).length, 1);
      assert.match(textOf(got.result), new RegExp(`Task ${id} \\(generate\\) completed`));
      const urlsOnly = await call(mcp.client, 'get_task', { task_id: id, include_images: false });
      assert.equal(imagesOf(urlsOnly.result).length, 0);
      assert.equal(urlsOf(urlsOnly.result).length, 1);

      const listed = await call(mcp.client, 'list_tasks', { status: 'completed', limit: 2 });
      assert.match(textOf(listed.result), new RegExp(`- ${id}\\s+completed`));
      assert.match(textOf(listed.result), /cursor "/);
      const badStatus = await call(mcp.client, 'list_tasks', { status: 'done' });
      assert.match(textOf(badStatus.result), /invalid_status/);

      const finished = await call(mcp.client, 'cancel_task', { task_id: id });
      assert.equal(finished.result.isError, true);
      assert.match(textOf(finished.result), /task_finished/);
    });

    test('canceling the MCP request cancels the task on the server', async () => {
      const abort = new AbortController();
      const pending = call(mcp.client, 'generate_image', { prompt: 'never mind', size: '256x256', num_inference_steps: 100 }, abort.signal);
      const id = await processingTask(server.url);
      await untilStatus(server.url, id, 'processing');
      abort.abort();
      await assert.rejects(pending);
      const task = await untilStatus(server.url, id, 'canceled');
      assert.equal(task.status, 'canceled');
      // The connection is still good.
      const { result } = await call(mcp.client, 'list_tasks', { status: 'canceled' });
      assert.match(textOf(result), new RegExp(id));
    });

    test('canceling a get_task wait only stops the wait: the task goes on', async () => {
      const submitted = await (await fetch(`${server.url}/v1/images/async_generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'keep going', size: '256x256', num_inference_steps: 12 }),
      })).json() as { task_id: string };
      const abort = new AbortController();
      const pending = call(mcp.client, 'get_task', { task_id: submitted.task_id, wait_seconds: 30 }, abort.signal);
      await new Promise((r) => setTimeout(r, 100));
      abort.abort();
      await assert.rejects(pending);
      const task = await untilStatus(server.url, submitted.task_id, 'completed');
      assert.equal(task.status, 'completed');
    });

    if (mode === 'stdio') {
      test('past --wait-seconds it answers the task id; get_task fetches the images later', async () => {
        const quick = await connectStdio(['--url', server.url, '--wait-seconds', '0.3']);
        try {
          const started = Date.now();
          const { result } = await call(quick.client, 'generate_image', { prompt: 'slow', size: '256x256', num_inference_steps: 40 });
          assert.ok(Date.now() - started < 5000);
          assert.equal(result.isError, undefined);
          const text = textOf(result);
          assert.match(text, /still processing after 0\.3 s/);
          assert.match(text, /get_task/);
          const id = taskIdOf(result)!;
          await untilStatus(server.url, id, 'completed');
          const got = await call(quick.client, 'get_task', { task_id: id });
          assert.equal(imagesOf(got.result).length, 1);
        } finally {
          await quick.close();
        }
      });

      test('edit_image reads a local file path', async () => {
        const file = path.join(tempDir('zimage-mcp-'), 'input.png');
        fs.writeFileSync(file, await solidPng(96, 64, [1, 2, 3]));
        const { result } = await call(mcp.client, 'edit_image', { image: file, prompt: 'a landscape', num_inference_steps: 1 });
        assert.equal(result.isError, undefined, textOf(result));
        assert.match(textOf(result), /1248x832/); // the input's 3:2 aspect at about 1 MP
        const missing = await call(mcp.client, 'edit_image', { image: `${file}.nope.png`, prompt: 'x' });
        assert.match(textOf(missing.result), /file_not_found/);
      });

      test('stdout carries MCP messages only; the log goes to stderr', () => {
        // (A progress notification that crossed a cancel on the wire is the protocol's own race, not stray output.)
        assert.deepEqual(mcp.errors.filter((e) => !/progress notification for an unknown token/.test(e.message)), []);
        assert.match(mcp.stderr(), /serving MCP on stdio/);
      });
    } else {
      test('past ZIMAGE_MCP_WAIT_SECONDS it answers the task id; get_task can wait for it', async () => {
        const quick = await startTestServer({ syntheticStepMs: 25, mcpWaitSeconds: 0.3 });
        const conn = await connectHttp(quick.url);
        try {
          const { result } = await call(conn.client, 'generate_image', { prompt: 'slow', size: '256x256', num_inference_steps: 40 });
          assert.match(textOf(result), /still processing after 0\.3 s.*get_task/s);
          const id = taskIdOf(result)!;
          let got;
          do got = await call(conn.client, 'get_task', { task_id: id, wait_seconds: 5 });
          while (!imagesOf(got.result).length && !got.result.isError);
          assert.equal(imagesOf(got.result).length, 1, textOf(got.result));
        } finally {
          await conn.close();
          await quick.close();
        }
      });

      test('a server shutting down ends the wait at once with the task id, and does not cancel the task', async () => {
        const doomed = await startTestServer({ syntheticStepMs: 50 }, { shutdownGraceMs: 100 });
        const conn = await connectHttp(doomed.url);
        try {
          const pending = call(conn.client, 'generate_image', { prompt: 'interrupted', size: '256x256', num_inference_steps: 100 });
          const id = await processingTask(doomed.url);
          const started = Date.now();
          const closed = doomed.close();
          const { result } = await pending;
          assert.match(textOf(result), new RegExp(`Stopped waiting for task ${id}: this MCP server is shutting down.*get_task`, 's'));
          await closed;
          assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
          // Back up on the same data: the task is still there to finish, not canceled.
          const again = await startTestServer({ dataDir: doomed.dataDir, worker: false });
          try {
            const task = await (await fetch(`${again.url}/v1/images/tasks/${id}`)).json() as any;
            assert.equal(task.status, 'processing');
          } finally {
            await again.close();
          }
        } finally {
          await conn.close().catch(() => undefined);
          await doomed.close();
        }
      });

      test('behind a proxy (ZIMAGE_PUBLIC_URL with a path): URLs are the public ones, and edit_image takes them', async () => {
        const proxied = await startTestServer({ publicUrl: 'https://img.example.com/zimage' });
        const conn = await connectHttp(proxied.url);
        try {
          const { result } = await call(conn.client, 'generate_image', { prompt: 'proxied', size: '256x256', num_inference_steps: 1 });
          assert.equal(imagesOf(result).length, 1, textOf(result));
          const [url] = urlsOf(result);
          assert.match(url, /^https:\/\/img\.example\.com\/zimage\/outputs\/gen_/);
          const edit = await call(conn.client, 'edit_image', { image: url, prompt: 'proxied again', size: '256x256', num_inference_steps: 1 });
          assert.equal(imagesOf(edit.result).length, 1, textOf(edit.result));
        } finally {
          await conn.close();
          await proxied.close();
        }
      });

      test('local paths are refused over HTTP (they would be the server\'s files)', async () => {
        const { result } = await call(mcp.client, 'edit_image', { image: '/etc/passwd', prompt: 'x' });
        assert.equal(result.isError, true);
        assert.match(textOf(result), /local_files_unsupported/);
      });

      test('GET and DELETE /mcp answer 405 in the error shape', async () => {
        for (const method of ['GET', 'DELETE']) {
          const res = await fetch(`${server.url}/mcp`, { method });
          assert.equal(res.status, 405);
          assert.equal(res.headers.get('allow'), 'POST');
          const body = await res.json() as any;
          assert.equal(body.error.code, 'method_not_allowed');
        }
      });

      test('/mcp is not in the OpenAPI document (it is not a REST operation)', async () => {
        const doc = await (await fetch(`${server.url}/openapi.json`)).json() as any;
        assert.ok(!Object.keys(doc.paths).includes('/mcp'));
      });
    }
  });
}

describe('MCP over stdio, with no server to talk to', () => {
  test('a tool call fails fast with server_unreachable, naming the address', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const mcp = await connectStdio(['--url', url]);
    try {
      const started = Date.now();
      const { result } = await call(mcp.client, 'generate_image', { prompt: 'x' });
      assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
      assert.equal(result.isError, true);
      assert.match(textOf(result), new RegExp(`server_unreachable.*${url}.*connection refused`));
      const list = await call(mcp.client, 'list_tasks', {});
      assert.match(textOf(list.result), /server_unreachable/);
      assert.match(mcp.stderr(), /warning: Cannot reach/);
    } finally {
      await mcp.close();
    }
  });
});
