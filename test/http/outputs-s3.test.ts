/**
 * /outputs from the configured storage, end to end: the whole server in-process with its
 * images in S3 (s3rver) or in a separate directory, an image generated through HTTP, then
 * downloaded whole, in ranges, with HEAD and validators, and through a presigned redirect.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pollTask, postJson, request } from '../helpers/http.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const NOT_FOUND = {
  error: {
    message: 'No such image. Use the exact URL from a completed task; images are deleted after the retention period.',
    type: 'not_found_error', code: 'file_not_found', param: 'file',
  },
};

/** Generates one image through the async API and returns its URL. */
async function generate(server: TestServer): Promise<string> {
  const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'x' });
  assert.equal(submit.status, 200, JSON.stringify(submit.body));
  const task = await pollTask(server.url, submit.body.task_id);
  assert.equal(task.status, 'completed', JSON.stringify(task));
  return task.data[0].url;
}

const download = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, init);
  return { res, body: Buffer.from(await res.arrayBuffer()) };
};

/** Whole, ranged, HEAD and conditional downloads of one image, the same for every storage. */
function servesWithRanges(label: string, state: () => { url: string }) {
  test(`${label}: the whole image streams as PNG with its length and validators`, async () => {
    const { res, body } = await download(state().url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(body.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(res.headers.get('content-length'), String(body.length));
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.match(res.headers.get('etag') ?? '', /^"[^"]+"$/);
    assert.ok(res.headers.get('last-modified'));
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });

  test(`${label}: a Range answers 206 with the right slice; one past the end answers 416 in the error shape`, async () => {
    const { body: whole } = await download(state().url);
    const cases: [string, number, number][] = [['bytes=0-99', 0, 99], ['bytes=10-10', 10, 10], ['bytes=-16', whole.length - 16, whole.length - 1],
      [`bytes=${whole.length - 5}-`, whole.length - 5, whole.length - 1], [`bytes=100-${whole.length + 1000}`, 100, whole.length - 1]];
    for (const [range, start, end] of cases) {
      const { res, body } = await download(state().url, { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${whole.length}`, range);
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
      assert.deepEqual(body, whole.subarray(start, end + 1), range);
    }
    const bad = await request(state().url, { headers: { range: `bytes=${whole.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${whole.length}`);
    assert.equal(bad.body.error.code, 'range_not_satisfiable');
    assert.equal(bad.body.error.type, 'invalid_request_error');
    // Several ranges, or a stale If-Range: the whole image.
    assert.equal((await fetch(state().url, { headers: { range: 'bytes=0-1,5-6' } })).status, 200);
    assert.equal((await fetch(state().url, { headers: { range: 'bytes=0-1', 'if-range': '"stale"' } })).status, 200);
  });

  test(`${label}: HEAD answers the headers without the bytes; If-None-Match answers 304`, async () => {
    const { res: get, body } = await download(state().url);
    const head = await download(state().url, { method: 'HEAD' });
    assert.equal(head.res.status, 200);
    assert.equal(head.res.headers.get('content-length'), String(body.length));
    assert.equal(head.res.headers.get('content-type'), 'image/png');
    assert.equal(head.body.length, 0);
    const cached = await fetch(state().url, { headers: { 'if-none-match': get.headers.get('etag')! } });
    assert.equal(cached.status, 304);
  });

  test(`${label}: an image that is not there keeps the exact 404 body, for GET and HEAD`, async () => {
    const missing = state().url.replace(/_[0-9a-f]{32}\./, `_${'0'.repeat(32)}.`);
    const res = await request(missing);
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, NOT_FOUND);
    assert.equal((await fetch(missing, { method: 'HEAD' })).status, 404);
  });
}

describe('outputs from S3 (s3rver)', () => {
  let s3: TestS3;
  let server: TestServer;
  let redirecting: TestServer;
  let url = '';
  const s3Config = () => ({
    storage: `s3://${s3.bucket}/fleet`, s3Endpoint: s3.endpoint, s3ForcePathStyle: true,
    // s3rver predates the SDK's default checksums (see test/helpers/s3rver.ts).
    s3Checksums: 'when_required',
  });

  before(async () => {
    s3 = await startS3rver();
    server = await startTestServer(s3Config());
    url = await generate(server);
    // Another node on the same storage, answering with presigned redirects.
    redirecting = await startTestServer({ ...s3Config(), outputsRedirect: true, presignSeconds: 120 });
  });
  after(async () => {
    await redirecting?.close();
    await server?.close();
    await s3?.close();
  });

  test('the image is in the bucket, not in the data directory', async () => {
    assert.equal(server.storage.name, 's3');
    const key = `outputs/${new URL(url).pathname.split('/').pop()}`;
    const stored = await server.storage.get(key);
    assert.equal(stored?.contentType, 'image/png');
    const { body } = await download(url);
    assert.deepEqual(body, stored!.data);
  });

  servesWithRanges('S3', () => ({ url }));

  test('ZIMAGE_OUTPUTS_REDIRECT: 302 to a presigned URL that downloads the same bytes; a missing image is still our 404', async () => {
    const { body: direct } = await download(url);
    const other = url.replace(server.url, redirecting.url);
    const res = await fetch(other, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const location = res.headers.get('location')!;
    assert.ok(location.startsWith(`${s3.endpoint}/${s3.bucket}/fleet/outputs/`), location);
    assert.match(location, /X-Amz-Signature=/);
    assert.match(location, /X-Amz-Expires=120/);
    const { res: followed, body } = await download(location);
    assert.equal(followed.status, 200);
    assert.equal(followed.headers.get('content-type'), 'image/png');
    assert.deepEqual(body, direct);
    const missing = await request(other.replace(/_[0-9a-f]{32}\./, `_${'0'.repeat(32)}.`), { redirect: 'manual' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, NOT_FOUND);
  });
});

describe('outputs from a storage directory apart from the data directory', () => {
  let server: TestServer;
  let url = '';
  const dir = tempDir('zimage-storage-');
  before(async () => {
    // Redirects need S3: with a directory the option is ignored and the bytes are streamed.
    server = await startTestServer({ storage: dir, outputsRedirect: true });
    url = await generate(server);
  });
  after(() => server?.close());

  test('the image is written under ZIMAGE_STORAGE', async () => {
    assert.equal(server.storage.name, 'local');
    const name = new URL(url).pathname.split('/').pop()!;
    assert.ok(fs.existsSync(path.join(dir, 'outputs', name)));
    assert.ok(!fs.existsSync(path.join(server.dataDir, 'outputs', name)));
    assert.equal((await server.storage.head(`outputs/${name}`))?.contentType, 'image/png');
    const { res } = await download(url, { redirect: 'manual' });
    assert.equal(res.status, 200);
  });

  servesWithRanges('directory', () => ({ url }));
});
