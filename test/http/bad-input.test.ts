/**
 * Every bad request gets a 4xx JSON error {"error": {message, type, code, param}} that says
 * what to fix, and the server goes on serving and loses nothing.
 */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { form, getJson, pollTask, postJson, postRaw, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A PNG that is only a signature and an IHDR claiming the given size: a decompression bomb's header. */
function pngHeaderClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const typeAndData = Buffer.concat([Buffer.from('IHDR'), ihdr]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(typeAndData) >>> 0);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), len, typeAndData, crc]);
}

describe('bad input battery', () => {
  let server: TestServer;
  let gen: string;
  let edit: string;
  let png: Buffer;
  before(async () => {
    server = await startTestServer({ maxUploadMb: 0.25, maxInputPixels: 4_000_000 });
    gen = `${server.url}/v1/images/async_generate`;
    edit = `${server.url}/v1/images/async_edit`;
    png = await solidPng(64, 64, [10, 200, 10]);
  });
  after(() => server.close());

  const expectError = (res: { status: number; body: any }, status: number, code: string, param?: string | null) => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(res.body.error.code, code, JSON.stringify(res.body));
    assert.ok(res.body.error.message.length > 20, 'the message says what to do');
    if (param !== undefined) assert.equal(res.body.error.param, param);
  };
  const editWith = (fields: Record<string, string>, files: Parameters<typeof form>[1] = {}) =>
    request(edit, { method: 'POST', body: form(fields, files) });

  const jsonCases: Array<[string, unknown, string, string | null]> = [
    ['missing prompt', {}, 'invalid_prompt', 'prompt'],
    ['empty prompt', { prompt: '' }, 'invalid_prompt', 'prompt'],
    ['blank prompt', { prompt: '   ' }, 'invalid_prompt', 'prompt'],
    ['non-string prompt', { prompt: { a: 1 } }, 'invalid_prompt', 'prompt'],
    ['overlong prompt', { prompt: 'x'.repeat(4001) }, 'invalid_prompt', 'prompt'],
    ['n too small', { prompt: 'a', n: 0 }, 'invalid_n', 'n'],
    ['n too large', { prompt: 'a', n: 5 }, 'invalid_n', 'n'],
    ['n not a number', { prompt: 'a', n: 'two' }, 'invalid_n', 'n'],
    ['size not WxH', { prompt: 'a', size: 'big' }, 'invalid_size', 'size'],
    ['size not a multiple of 16', { prompt: 'a', size: '1000x1000' }, 'invalid_size', 'size'],
    ['size too small', { prompt: 'a', size: '128x128' }, 'invalid_size', 'size'],
    ['size too large', { prompt: 'a', size: '4096x4096' }, 'invalid_size', 'size'],
    ['steps zero', { prompt: 'a', num_inference_steps: 0 }, 'invalid_num_inference_steps', 'num_inference_steps'],
    ['steps too many', { prompt: 'a', num_inference_steps: 101 }, 'invalid_num_inference_steps', 'num_inference_steps'],
    ['guidance negative', { prompt: 'a', guidance_scale: -1 }, 'invalid_guidance_scale', 'guidance_scale'],
    ['seed negative', { prompt: 'a', seed: -5 }, 'invalid_seed', 'seed'],
    ['unknown response_format', { prompt: 'a', response_format: 'gif' }, 'invalid_response_format', 'response_format'],
    ['unknown output_format', { prompt: 'a', output_format: 'bmp' }, 'invalid_output_format', 'output_format'],
    ['webhook not http', { prompt: 'a', webhook_url: 'file:///etc/passwd' }, 'invalid_webhook_url', 'webhook_url'],
    ['array body', [{ prompt: 'a' }], 'invalid_json', null],
    ['string body', 'a cat', 'invalid_json', null],
  ];
  for (const [name, body, code, param] of jsonCases) {
    test(`generate: ${name} → 400 ${code}`, async () => expectError(await postJson(gen, body), 400, code, param));
  }

  test('malformed JSON → 400 invalid_json', async () => expectError(await postRaw(gen, '{"prompt": ', 'application/json'), 400, 'invalid_json'));
  test('empty JSON body → 400 invalid_json', async () => expectError(await postRaw(gen, '', 'application/json'), 400, 'invalid_json'));
  test('wrong content type → 415', async () => expectError(await postRaw(gen, 'prompt=a', 'text/plain'), 415, 'unsupported_media_type'));
  test('plain text sent to the edit endpoint → 415 naming JSON and multipart', async () => {
    const res = await postRaw(edit, 'prompt=a', 'text/plain');
    expectError(res, 415, 'unsupported_media_type');
    assert.match(res.body.error.message, /multipart\/form-data/);
    assert.match(res.body.error.message, /application\/json/);
  });
  test('JSON edit without an image → 400 missing_image', async () => expectError(await postJson(edit, { prompt: 'a' }), 400, 'missing_image', 'image'));
  test('JSON edit whose image is not base64 (e.g. a URL) → 400 invalid_image saying URLs are not fetched', async () => {
    const res = await postJson(edit, { prompt: 'a', image: 'https://example.com/cat.png' });
    expectError(res, 400, 'invalid_image', 'image');
    assert.match(res.body.error.message, /not fetched/);
  });
  test('JSON edit whose base64 is not an image → 400 invalid_image', async () => {
    expectError(await postJson(edit, { prompt: 'a', image: Buffer.from('hello world').toString('base64') }), 400, 'invalid_image', 'image');
  });
  test('JSON edit with an image over the upload limit → 413 file_too_large', async () => {
    const huge = Buffer.concat([png, Buffer.alloc(300 * 1024)]).toString('base64');
    expectError(await postJson(edit, { prompt: 'a', image: huge }), 413, 'file_too_large', 'image');
  });
  test('JSON body over 1 MiB → 413', async () => {
    expectError(await postRaw(gen, JSON.stringify({ prompt: 'a', pad: 'x'.repeat(1_100_000) }), 'application/json'), 413, 'request_too_large');
  });

  test('agent-style JSON (Python literals, single quotes, trailing commas) is accepted', async () => {
    const res = await postRaw(gen,
      "{'prompt': 'a cat\\'s \"hat\"', 'n': None, 'seed': None, 'size': None, 'guidance_scale': None, 'negative_prompt': None, 'x': True, 'y': [False,],}",
      'application/json');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const done = await pollTask(server.url, res.body.task_id);
    assert.equal(done.status, 'completed');
    // None means "not given": defaults apply, the seed is random, nothing is coerced to 0.
    const task = await server.queue.get(res.body.task_id);
    assert.equal(task?.params.prompt, 'a cat\'s "hat"');
    assert.deepEqual([task?.params.n, task?.params.width, task?.params.height], [1, 1024, 1024]);
    assert.equal(task?.params.guidance_scale, undefined);
    assert.equal(task?.params.negative_prompt, undefined);
    const again = await postRaw(gen, "{'prompt': 'same', 'seed': None}", 'application/json');
    const other = await postRaw(gen, "{'prompt': 'same', 'seed': None}", 'application/json');
    const seeds = await Promise.all([again, other].map(async (r) => (await server.queue.get(r.body.task_id))?.params.seed));
    assert.notEqual(seeds[0], seeds[1], 'a None seed is random, not 0');
  });

  test('edit without an image → 400 missing_image', async () => expectError(await editWith({ prompt: 'a' }), 400, 'missing_image', 'image'));
  test('edit without a prompt → 400 invalid_prompt', async () => expectError(await editWith({}, { image: { data: png } }), 400, 'invalid_prompt', 'prompt'));
  test('edit with strength out of range → 400 invalid_strength', async () => {
    expectError(await editWith({ prompt: 'a', strength: '1.5' }, { image: { data: png } }), 400, 'invalid_strength', 'strength');
  });
  test('edit with n out of range in a form field → 400 invalid_n', async () => {
    expectError(await editWith({ prompt: 'a', n: '9' }, { image: { data: png } }), 400, 'invalid_n', 'n');
  });
  test('upload that is not an image → 400 invalid_image', async () => {
    expectError(await editWith({ prompt: 'a' }, { image: { data: Buffer.from('definitely not a picture'), type: 'image/png' } }), 400, 'invalid_image', 'image');
  });
  test('truncated image → 400 invalid_image', async () => {
    const big = await solidPng(400, 400, [1, 2, 3]);
    const noisy = await (await import('sharp')).default(Buffer.alloc(200 * 200 * 3, 7), { raw: { width: 200, height: 200, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    for (const img of [big, noisy]) {
      expectError(await editWith({ prompt: 'a' }, { image: { data: img.subarray(0, Math.floor(img.length / 2)) } }), 400, 'invalid_image', 'image');
    }
  });
  test('image whose header claims huge dimensions → 400 image_too_large, before decoding', async () => {
    expectError(await editWith({ prompt: 'a' }, { image: { data: pngHeaderClaiming(100_000, 100_000) } }), 400, 'image_too_large', 'image');
  });
  test('bad mask → 400 with param mask', async () => {
    expectError(await editWith({ prompt: 'a' }, { image: { data: png }, mask: { data: Buffer.from('nope') } }), 400, 'invalid_image', 'mask');
  });
  test('oversize upload → 413 file_too_large', async () => {
    const huge = Buffer.concat([png, Buffer.alloc(300 * 1024)]);
    expectError(await editWith({ prompt: 'a' }, { image: { data: huge } }), 413, 'file_too_large');
  });
  test('too many parts → 413 too_many_parts', async () => {
    const fields: Record<string, string> = { prompt: 'a' };
    for (let i = 0; i < 60; i++) fields[`f${i}`] = 'x';
    expectError(await editWith(fields, { image: { data: png } }), 413, 'too_many_parts');
  });
  test('two images → 400 too_many_images', async () => {
    const fd = form({ prompt: 'a' }, { image: { data: png } });
    fd.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'b.png');
    expectError(await request(edit, { method: 'POST', body: fd }), 400, 'too_many_images', 'image');
  });
  test('broken multipart body → 400', async () => {
    const res = await request(edit, {
      method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello',
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(typeof res.body.error.code, 'string');
  });

  test('after all of that the server still serves, and no bad request queued a task', async () => {
    const health = await getJson(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const res = await editWith({ prompt: 'fine', size: '256x256' }, { image: { data: png } });
    assert.equal(res.status, 200);
    assert.equal((await pollTask(server.url, res.body.task_id)).status, 'completed');
    const list = await server.queue.list({ limit: 100 });
    assert.equal(list.tasks.length, 4, 'only the four valid submissions became tasks');
  });
});
