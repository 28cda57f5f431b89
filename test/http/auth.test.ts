/**
 * Optional API keys (ZIMAGE_API_KEYS): /v1/* needs a key, the open routes stay open, and a
 * caller sees, lists, streams, cancels and deletes only its own tasks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config.js';
import { parseApiKeys } from '../../src/http/auth.js';
import { getJson, postJson, request } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-9876543210';

describe('parseApiKeys', () => {
  test('named and bare keys', () => {
    assert.deepEqual(parseApiKeys(''), []);
    assert.deepEqual(parseApiKeys(' alice:k1 , k2,,bob:k:3 '), [
      { name: 'alice', key: 'k1' }, { name: 'key-2', key: 'k2' }, { name: 'bob', key: 'k:3' },
    ]);
  });

  test('malformed lists are configuration errors', () => {
    for (const raw of ['alice:', 'a b:k1', 'alice:k1,alice:k2', 'alice:k1,bob:k1', ':k1']) {
      assert.throws(() => parseApiKeys(raw), ConfigError, raw);
    }
  });

  test('the server does not start with a malformed list', async () => {
    await assert.rejects(startTestServer({ apiKeys: 'alice:k1,alice:k2' }), ConfigError);
  });
});

describe('with ZIMAGE_API_KEYS set', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startTestServer({ worker: false, apiKeys: `alice:${ALICE},${BOB}` });
    base = server.url;
  });
  after(() => server.close());

  const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
  const submitAs = async (key: string) => {
    const res = await postJson(`${base}/v1/images/async_generate`, { prompt: 'cat', size: '256x256' }, bearer(key));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.task_id as string;
  };

  test('a /v1 request without a valid key is 401 in the error shape', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /requires an API key/],
      [bearer('wrong'), /not valid/],
      [{ 'X-API-Key': 'wrong' }, /not valid/],
      [{ Authorization: `Basic ${Buffer.from(`x:${ALICE}`).toString('base64')}` }, /requires an API key/],
    ];
    for (const [headers, message] of cases) {
      for (const res of [
        await postJson(`${base}/v1/images/async_generate`, { prompt: 'cat' }, headers),
        await request(`${base}/v1/images/tasks`, { headers }),
        await request(`${base}/v1/no-such-route`, { headers }),
        await request(`${base}/%76%31/images/tasks`, { headers }),
      ]) {
        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        assert.match(res.body.error.message, message);
        assert.match(res.body.error.message, /Authorization: Bearer YOUR_KEY.*X-API-Key: YOUR_KEY/);
        assert.deepEqual({ ...res.body, error: { ...res.body.error, message: '' } }, {
          status: 'failed',
          error: { message: '', type: 'authentication_error', code: 'invalid_api_key', param: null },
        });
      }
    }
  });

  test('Bearer (any case) and X-API-Key are accepted; bare keys are named key-N', async () => {
    const id = await submitAs(ALICE);
    for (const headers of [bearer(ALICE), { Authorization: `bearer ${ALICE}` }, { 'X-API-Key': ALICE }]) {
      const res = await request(`${base}/v1/images/tasks/${id}`, { headers });
      assert.equal(res.status, 200);
      assert.equal(res.body.task_id, id);
    }
    const bobs = await submitAs(BOB);
    assert.equal((await server.queue.get(bobs))!.owner, 'key-2');
    assert.equal((await server.queue.get(id))!.owner, 'alice');
  });

  test('open routes need no key', async () => {
    assert.equal((await getJson(`${base}/health`)).status, 200);
    assert.equal((await getJson(`${base}/openapi.json`)).status, 200);
    assert.equal((await getJson(`${base}/SKILL.md`)).status, 200);
    const image = await getJson(`${base}/outputs/gen_0123456789abcdef0123456789abcdef.png`);
    assert.equal(image.status, 404);
    assert.equal(image.body.error.code, 'file_not_found');
  });

  test('a caller sees, lists, streams and cancels only its own tasks', async () => {
    const mine = await submitAs(ALICE);
    const theirs = await submitAs(BOB);
    const asAlice = (url: string, init: RequestInit = {}) => request(`${base}${url}`, { ...init, headers: bearer(ALICE) });
    for (const res of [
      await asAlice(`/v1/images/tasks/${theirs}`),
      await asAlice(`/v1/images/tasks/${theirs}?wait=1`),
      await asAlice(`/v1/images/tasks/${theirs}/events`),
      await asAlice(`/v1/images/tasks/${theirs}/cancel`, { method: 'POST' }),
      await asAlice(`/v1/images/tasks/${theirs}`, { method: 'DELETE' }),
    ]) {
      assert.equal(res.status, 404);
      assert.equal(res.body.status, 'failed');
      assert.equal(res.body.error.code, 'task_not_found');
    }
    assert.equal((await server.queue.get(theirs))!.state, 'queued', 'still queued: alice could not cancel it');

    const listed = (await asAlice('/v1/images/tasks?limit=100')).body.data.map((t: any) => t.task_id);
    assert.ok(listed.includes(mine));
    assert.ok(!listed.includes(theirs));
    const cancel = await asAlice(`/v1/images/tasks/${mine}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.status, 'canceled');
  });

  test('a caller deletes only its own finished tasks', async () => {
    const theirs = await submitAs(BOB);
    const asBob = (init: RequestInit = {}) => request(`${base}/v1/images/tasks/${theirs}`, { ...init, headers: bearer(BOB) });
    assert.equal((await asBob({ method: 'DELETE' })).body.status, 'canceled', 'the first DELETE of a queued task cancels it');
    const byAlice = await request(`${base}/v1/images/tasks/${theirs}`, { method: 'DELETE', headers: bearer(ALICE) });
    assert.equal(byAlice.status, 404);
    assert.equal(byAlice.body.error.code, 'task_not_found');
    assert.equal((await server.queue.get(theirs))?.state, 'canceled', 'still there: alice could not delete it');
    const byBob = await asBob({ method: 'DELETE' });
    assert.equal(byBob.status, 200, JSON.stringify(byBob.body));
    assert.deepEqual(byBob.body, { task_id: theirs, object: 'task.deleted', deleted: true });
    assert.equal((await asBob()).status, 404);
  });
});
