/**
 * MCP with ZIMAGE_API_KEYS: /mcp takes the same keys as /v1 (401 in the error shape without
 * one), the stdio server sends ZIMAGE_API_KEY, and each key sees only its own tasks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { call, connectHttp, connectStdio, imagesOf, taskIdOf, textOf } from './helpers.js';

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-9876543210';

const INITIALIZE = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
};

describe('MCP with API keys', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ apiKeys: `alice:${ALICE},bob:${BOB}`, syntheticStepMs: 5 });
  });
  after(() => server.close());

  const post = (headers: Record<string, string>) => fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(INITIALIZE),
  });

  test('/mcp without a valid key is 401 in the server\'s error shape', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { 'x-api-key': 'wrong' }] as Array<Record<string, string>>) {
      const res = await post(headers);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      const body = await res.json() as any;
      assert.equal(body.error.code, 'invalid_api_key');
      assert.equal(body.error.type, 'authentication_error');
    }
    for (const path of ['/mcp/', '//mcp', '/MCP']) {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 401, path);
    }
    const ok = await post({ 'x-api-key': ALICE });
    assert.equal(ok.status, 200);
    assert.ok(ok.headers.get('mcp-session-id'));
    await ok.body?.cancel();
  });

  test('the SDK client with a key (Bearer or X-API-Key) works, and a second key cannot see the first one\'s task', async () => {
    const alice = await connectHttp(server.url, { authorization: `Bearer ${ALICE}` });
    const bob = await connectHttp(server.url, { 'x-api-key': BOB });
    try {
      const { result } = await call(alice.client, 'generate_image', { prompt: 'alice only', size: '256x256', num_inference_steps: 1 });
      assert.equal(result.isError, undefined, textOf(result));
      assert.equal(imagesOf(result).length, 1);
      const id = taskIdOf(result)!;
      assert.equal((await call(alice.client, 'get_task', { task_id: id })).result.isError, undefined);

      const stolen = await call(bob.client, 'get_task', { task_id: id });
      assert.equal(stolen.result.isError, true);
      assert.match(textOf(stolen.result), /task_not_found/);
      assert.match(textOf((await call(bob.client, 'cancel_task', { task_id: id })).result), /task_not_found/);
      assert.doesNotMatch(textOf((await call(bob.client, 'list_tasks', {})).result), new RegExp(id));
      assert.match(textOf((await call(alice.client, 'list_tasks', {})).result), new RegExp(id));

      // Owned as with /v1: the task is alice's.
      const res = await fetch(`${server.url}/v1/images/tasks/${id}`, { headers: { authorization: `Bearer ${BOB}` } });
      assert.equal(res.status, 404);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('the stdio server sends ZIMAGE_API_KEY; without it, tools say how to set it', async () => {
    const keyed = await connectStdio(['--url', server.url], { ZIMAGE_API_KEY: BOB });
    const bare = await connectStdio(['--url', server.url]);
    try {
      const { result } = await call(keyed.client, 'generate_image', { prompt: 'bob via stdio', size: '256x256', num_inference_steps: 1 });
      assert.equal(result.isError, undefined, textOf(result));
      const id = taskIdOf(result)!;
      const task = await (await fetch(`${server.url}/v1/images/tasks/${id}`, { headers: { 'x-api-key': BOB } })).json() as any;
      assert.equal(task.status, 'completed');
      const alice = await fetch(`${server.url}/v1/images/tasks/${id}`, { headers: { 'x-api-key': ALICE } });
      assert.equal(alice.status, 404);

      const refused = await call(bare.client, 'list_tasks', {});
      assert.equal(refused.result.isError, true);
      assert.match(textOf(refused.result), /invalid_api_key.*HTTP 401.*ZIMAGE_API_KEY/);
    } finally {
      await keyed.close();
      await bare.close();
    }
  });
});
