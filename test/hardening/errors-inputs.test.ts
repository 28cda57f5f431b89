/**
 * The smaller things a new user meets: a prompt that is not a string is a 400 (not coerced to
 * text), multipart fields still coerce; "jpg" means jpeg; the size error is in words; a cursor
 * this server did not make is a 400; queue_position and its message count alike; a repeated
 * Idempotency-Key answers its finished task without saying "Task queued".
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('request fields as a new user sends them', () => {
  let server: TestServer;
  let gen: string;
  before(async () => {
    server = await startTestServer();
    gen = `${server.url}/v1/images/async_generate`;
  });
  after(() => server.close());

  test('a prompt that is a number, a list or true is a 400 invalid_prompt, not coerced to text', async () => {
    for (const prompt of [42, ['a cat'], true, 0]) {
      const res = await postJson(gen, { prompt });
      assert.equal(res.status, 400, JSON.stringify(prompt));
      assert.equal(res.body.error.code, 'invalid_prompt');
      assert.equal(res.body.error.param, 'prompt');
      assert.match(res.body.error.message, /"prompt" must be a string describing the image, not (a number|a list|true)\./);
    }
    const negative = await postJson(gen, { prompt: 'a cat', negative_prompt: 7 });
    assert.equal(negative.body.error.code, 'invalid_negative_prompt');
    const n = await postJson(gen, { prompt: 'a cat', n: true });
    assert.equal(n.body.error.code, 'invalid_n', 'true is no number either');
  });

  test('multipart fields are strings and still coerce: n="2", strength="0.5"', async () => {
    const png = await solidPng(64, 64, [200, 10, 10]);
    const res = await request(`${server.url}/v1/images/async_edit`, {
      method: 'POST', body: form({ prompt: 'make it blue', n: '2', strength: '0.5', size: '256x256' }, { image: { data: png } }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const done = await pollTask(server.url, res.body.task_id);
    assert.equal(done.status, 'completed');
    assert.equal(done.data.length, 2);
    assert.equal(done.request.strength, 0.5);
  });

  test('"jpg" is taken as jpeg', async () => {
    const res = await postJson(gen, { prompt: 'a cat', size: '256x256', output_format: 'jpg' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const done = await pollTask(server.url, res.body.task_id);
    assert.equal(done.data[0].output_format, 'jpeg');
    const image = await fetch(done.data[0].url);
    assert.equal(image.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual([...new Uint8Array(await image.arrayBuffer()).subarray(0, 2)], [0xff, 0xd8]);
  });

  test('a bad size is explained in words, never as a regular expression', async () => {
    for (const size of ['big', '1024*1024', '1000x1000', '12']) {
      const res = await postJson(gen, { prompt: 'a cat', size });
      assert.equal(res.body.error.code, 'invalid_size', size);
      assert.match(res.body.error.message, /"WIDTHxHEIGHT" with each side a multiple of 16 between 256 and 2048/);
      assert.doesNotMatch(res.body.error.message, /pattern|\^|\\d|\$"/, size);
    }
    const spec = (await getJson(`${server.url}/openapi.json`)).body;
    const size = spec.paths['/v1/images/async_generate'].post.requestBody.content['application/json'].schema.properties.size;
    assert.match(size.description, /multiple of 16 from 256 to 2048/, 'the documented size says it in words too');
  });

  test('?cursor=garbage is a 400 invalid_cursor, not page 1', async () => {
    for (const cursor of ['garbage', 'next', '1', 'zzzz']) {
      const res = await getJson(`${server.url}/v1/images/tasks?cursor=${cursor}`);
      assert.equal(res.status, 400, cursor);
      assert.equal(res.body.error.code, 'invalid_cursor');
      assert.equal(res.body.error.param, 'cursor');
    }
  });

  test('a repeated Idempotency-Key of a finished task says what happened, not "Task queued"', async () => {
    const headers = { 'Idempotency-Key': 'replay-1' };
    const first = await postJson(gen, { prompt: 'a replayed cat', size: '256x256' }, headers);
    assert.equal(first.body.status, 'processing');
    assert.match(first.body.message, /^Task queued\./);
    assert.equal((await pollTask(server.url, first.body.task_id)).status, 'completed');
    const again = await postJson(gen, { prompt: 'a replayed cat', size: '256x256' }, headers);
    assert.equal(again.status, 200);
    assert.equal(again.body.task_id, first.body.task_id);
    assert.equal(again.body.status, 'completed');
    assert.equal(again.body.replayed, true);
    assert.doesNotMatch(again.body.message, /queued/i);
    assert.match(again.body.message, /already used.*finished \("completed"\)/);
  });
});

describe('queue_position and its message', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ worker: false }); // nothing runs: the tasks stay queued
  });
  after(() => server.close());

  test('count the same way: the tasks ahead, 0 when it runs next', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await postJson(`${server.url}/v1/images/async_generate`, { prompt: `cat ${i}` })).body.task_id);
    const polled = await Promise.all(ids.map((id) => getJson(`${server.url}/v1/images/tasks/${id}`)));
    assert.deepEqual(polled.map((p) => p.body.queue_position), [0, 1, 2]);
    assert.match(polled[0].body.message, /^Waiting in the queue: it runs next \(queue_position 0\)\./);
    assert.match(polled[1].body.message, /^Waiting in the queue: 1 task ahead of it \(queue_position 1\)\./);
    assert.match(polled[2].body.message, /^Waiting in the queue: 2 tasks ahead of it \(queue_position 2\)\./);
  });
});
