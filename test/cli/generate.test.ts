/**
 * `zimage generate` and `zimage edit` against a real server over loopback, as subprocesses:
 * the files written (real PNG/JPEG/WebP of the asked size), their names, --json, and the
 * server's refusals passed on with exit 2.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ZImageClient } from '../../src/client/index.js';
import { solidPng } from '../helpers/http.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { runCli } from './helpers.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('zimage generate / edit', () => {
  let server: TestServer;
  let cwd: string;
  let client: ZImageClient;
  const cli = (args: string[]) => runCli(args, { url: server.url, cwd });

  before(async () => {
    server = await startTestServer();
    client = new ZImageClient({ url: server.url });
    cwd = tempDir('zimage-cli-');
  });
  after(async () => {
    await server.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  test('writes a valid PNG of the asked size to -o, and prints its path on stdout', async () => {
    const r = await cli(['generate', 'a red fox in snow', '-o', 'fox.png', '--size', '512x384', '--seed', '7', '--steps', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'fox.png\n');
    assert.match(r.stderr, /Submitted task [0-9a-f]{32}/);
    assert.match(r.stderr, /completed in .*1 image, seed 7/);
    const bytes = fs.readFileSync(path.join(cwd, 'fox.png'));
    assert.deepEqual(bytes.subarray(0, 8), PNG_MAGIC);
    const meta = await sharp(bytes).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [512, 384]);
    assert.deepEqual(fs.readdirSync(cwd).filter((f) => f.includes('partial')), []);
  });

  test('--n 2 numbers the files, seeds follow each other', async () => {
    const r = await cli(['generate', 'two cats', '--n', '2', '-o', 'sub/dir/cats.png', '--size', '256x256', '--seed', '100', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.task.status, 'completed');
    assert.deepEqual(out.files, [path.join(cwd, 'sub/dir/cats-1.png'), path.join(cwd, 'sub/dir/cats-2.png')]);
    assert.deepEqual(out.task.data.map((d: any) => d.seed), [100, 101]);
    for (const f of out.files) assert.equal((await sharp(f).metadata()).width, 256);
  });

  test('--format jpeg without -o writes zimage-<short id>.jpg in the cwd', async () => {
    const r = await cli(['generate', 'a lighthouse', '--format', 'jpeg', '--size', '256x256']);
    assert.equal(r.code, 0, r.stderr);
    const file = r.stdout.trim();
    assert.match(file, /^zimage-[0-9a-f]{8}\.jpg$/);
    const id = /Submitted task ([0-9a-f]{32})/.exec(r.stderr)![1];
    assert.equal(file, `zimage-${id.slice(0, 8)}.jpg`);
    assert.equal((await sharp(path.join(cwd, file)).metadata()).format, 'jpeg');
  });

  test('the format follows -o\'s extension; a contradiction is refused before anything is submitted', async () => {
    const r = await cli(['generate', 'a boat', '-o', 'boat.webp', '--size', '256x256']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await sharp(path.join(cwd, 'boat.webp')).metadata()).format, 'webp');

    const before = (await client.list({ limit: 100 })).data.length;
    const bad = await cli(['generate', 'a boat', '-o', 'boat.png', '--format', 'webp']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format webp contradicts the output name "boat.png"/);
    assert.match(bad.stderr, /zimage help generate/);
    const gif = await cli(['generate', 'a boat', '-o', 'boat.gif']);
    assert.equal(gif.code, 2);
    assert.match(gif.stderr, /cannot write ".gif" files/);
    assert.equal((await client.list({ limit: 100 })).data.length, before);
  });

  test('--json prints only the final task and the files on stdout', async () => {
    const r = await cli(['generate', 'json please', '--json', '--size', '256x256', '-o', 'j.png']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['files', 'task']);
    assert.equal(out.task.request.prompt, 'json please');
    assert.deepEqual(out.files, [path.join(cwd, 'j.png')]);
    assert.equal((await client.get(out.task.task_id)).status, 'completed');
  });

  test('input the server refuses: exit 2 with its message', async () => {
    const r = await cli(['generate', 'tiny', '--size', '100x100']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"size" must be "WIDTHxHEIGHT" with each side a multiple of 16 .*got "100x100"/);
    assert.match(r.stderr, /invalid_size/);
    assert.equal(r.stdout, '');
    const j = await cli(['generate', 'tiny', '--n', '9', '--json']);
    assert.equal(j.code, 2);
    assert.equal(JSON.parse(j.stdout).error.code, 'invalid_n');
  });

  test('edit with --mask: the result keeps the input\'s aspect, strength is passed on', async () => {
    fs.writeFileSync(path.join(cwd, 'in.png'), await solidPng(512, 256, [200, 30, 30]));
    fs.writeFileSync(path.join(cwd, 'mask.png'), await solidPng(512, 256, [255, 255, 255]));
    const r = await cli(['edit', 'in.png', 'make it blue', '--mask', 'mask.png', '--strength', '0.8', '-o', 'edited.png', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.task.kind, 'edit');
    assert.equal(out.task.request.strength, 0.8);
    const meta = await sharp(out.files[0]).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(Math.abs(meta.width! / meta.height! - 2) < 0.1, `${meta.width}x${meta.height}`);

    const missing = await cli(['edit', 'nope.png', 'x']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the image "nope.png": ENOENT/);
    fs.writeFileSync(path.join(cwd, 'junk.png'), 'not an image');
    const junk = await cli(['edit', 'junk.png', 'x']);
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /not a readable image/);
  });

  test('--no-wait prints the id; wait saves its images later', async () => {
    const sub = await cli(['generate', 'later', '--no-wait', '--size', '256x256', '--format', 'webp']);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    const wrong = await cli(['wait', id, '-o', 'later.png']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /task makes webp images/);
    const w = await cli(['wait', id, '-o', 'later.webp']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, 'later.webp\n');
    assert.equal((await sharp(path.join(cwd, 'later.webp')).metadata()).format, 'webp');
  });
});
