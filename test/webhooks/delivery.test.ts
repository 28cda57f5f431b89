/**
 * Webhook delivery end to end: a real server and a real receiver on loopback (private
 * targets allowed), for completed, failed and canceled tasks, and retries after 500s.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startReceiver, verifyStandardWebhook, waitForWebhook, type Received, type Receiver } from './receiver.js';
import { FAIL_PROMPT, ScriptedEngine } from './scriptedEngine.js';

const SECRET = `whsec_${Buffer.from('delivery-test-secret-0123456789ab').toString('base64')}`;

/** The GET body without its `webhook` field: what the webhook body must equal. */
function withoutWebhook(body: Record<string, unknown>): any {
  const { webhook: _, ...rest } = body;
  return rest;
}

function assertSignedJson(req: Received) {
  assert.equal(req.method, 'POST');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.match(String(req.headers['webhook-id']), /^msg_[a-f0-9]{32}$/);
  assert.match(String(req.headers['webhook-timestamp']), /^\d{10}$/);
  assert.ok(verifyStandardWebhook(req, SECRET), 'signature verifies with the configured secret');
  assert.equal(verifyStandardWebhook(req, 'whsec_d3Jvbmcgc2VjcmV0'), false, 'and not with another secret');
  assert.equal(verifyStandardWebhook({ ...req, body: `${req.body} ` }, SECRET), false, 'and not for another body');
}

describe('webhook delivery', () => {
  let server: TestServer;
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
    server = await startTestServer({ webhookAllowPrivate: true, webhookSecret: SECRET }, { engine: new ScriptedEngine() });
  });
  after(async () => {
    await server.close();
    await receiver.close();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  test('a completed task is POSTed to webhook_url with the GET body, signed; the task shows the delivery', async () => {
    const hook = `${receiver.url}/hooks/zimage?token=abc`;
    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a red fox', size: '256x256', webhook_url: hook });
    assert.equal(submit.status, 200);
    const id = submit.body.task_id;
    await pollTask(server.url, id);
    const [req] = await receiver.waitFor(1);
    assert.equal(req.path, '/hooks/zimage?token=abc');
    assertSignedJson(req);

    const polled = await waitForWebhook(server.url, id);
    const body = JSON.parse(req.body);
    assert.deepEqual(body, withoutWebhook(polled));
    assert.equal(body.task_id, id);
    assert.equal(body.status, 'completed');
    assert.match(body.data[0].url, new RegExp(`^${server.url}/outputs/gen_[a-f0-9]{32}\\.png$`));

    const w = polled.webhook;
    assert.deepEqual(Object.keys(w).sort(), ['attempts', 'next_attempt_at', 'status', 'url']);
    assert.equal(w.url, hook);
    assert.equal(w.status, 'delivered');
    assert.equal(w.next_attempt_at, null);
    assert.equal(w.attempts.length, 1);
    assert.deepEqual(Object.keys(w.attempts[0]).sort(), ['at', 'duration_ms', 'error', 'status_code']);
    assert.equal(w.attempts[0].status_code, 200);
    assert.equal(w.attempts[0].error, null);
    assert.equal(Number.isInteger(w.attempts[0].at) && Number.isInteger(w.attempts[0].duration_ms), true);
    assert.equal(receiver.received.length, 1);
  });

  test('a failed task is delivered with its error (to a host name: resolved, then connected to the vetted address)', async () => {
    const before = receiver.received.length;
    const submit = await postJson(`${server.url}/v1/images/async_generate`, {
      prompt: `${FAIL_PROMPT} a blue bird`, size: '256x256', webhook_url: `http://localhost:${receiver.port}/failed`,
    });
    assert.equal(submit.status, 200, JSON.stringify(submit.body));
    const id = submit.body.task_id;
    const done = await pollTask(server.url, id);
    assert.equal(done.status, 'failed');
    const req = (await receiver.waitFor(before + 1))[before];
    assert.equal(req.path, '/failed');
    assertSignedJson(req);
    const polled = await waitForWebhook(server.url, id);
    assert.equal(polled.webhook.status, 'delivered');
    const body = JSON.parse(req.body);
    assert.deepEqual(body, withoutWebhook(polled));
    assert.deepEqual(body.error, { code: 'out_of_memory', message: 'The GPU ran out of memory (scripted by the test).', retryable: false });
  });

  test('a receiver answering 500 twice then 200: three attempts on the task, then delivered, same webhook-id', async () => {
    const flaky = await startReceiver([500, 500]);
    try {
      const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a green frog', size: '256x256', webhook_url: `${flaky.url}/flaky` });
      assert.equal(submit.status, 200, JSON.stringify(submit.body));
      const id = submit.body.task_id;
      const first = await waitForWebhook(server.url, id, (w) => w?.attempts.length === 1);
      assert.equal(first.webhook.status, 'pending');
      assert.equal(first.webhook.attempts[0].status_code, 500);
      assert.equal(first.webhook.attempts[0].error, 'the receiver answered HTTP 500: scripted 500');
      // Backoff puts the retry about 5 s out: run the maintenance pass with a clock an hour ahead instead of waiting.
      assert.ok(first.webhook.next_attempt_at >= first.webhook.attempts[0].at + 3);
      for (let i = 0; i < 5 && (await getJson(`${server.url}/v1/images/tasks/${id}`)).body.webhook.status === 'pending'; i++) {
        await server.webhooks!.deliverDue(Date.now() + 3_600_000);
      }
      const polled = (await getJson(`${server.url}/v1/images/tasks/${id}`)).body;
      assert.equal(polled.webhook.status, 'delivered');
      assert.deepEqual(polled.webhook.attempts.map((a: any) => [a.status_code, a.error]), [
        [500, 'the receiver answered HTTP 500: scripted 500'],
        [500, 'the receiver answered HTTP 500: scripted 500'],
        [200, null],
      ]);
      assert.equal(polled.webhook.next_attempt_at, null);
      assert.equal(flaky.received.length, 3);
      assert.equal(new Set(flaky.received.map((r) => r.headers['webhook-id'])).size, 1);
      assert.equal(new Set(flaky.received.map((r) => r.body)).size, 1);
      for (const r of flaky.received) assertSignedJson(r);
    } finally {
      await flaky.close();
    }
  });

  test('a canceled task is delivered; before that the task shows the webhook as pending', async () => {
    const queued = await startTestServer({ webhookAllowPrivate: true, webhookSecret: SECRET, worker: false });
    try {
      const before = receiver.received.length;
      const submit = await postJson(`${queued.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256', webhook_url: `${receiver.url}/canceled` });
      assert.equal(submit.status, 200, JSON.stringify(submit.body));
      const id = submit.body.task_id;
      const waiting = await getJson(`${queued.url}/v1/images/tasks/${id}`);
      assert.equal(waiting.body.status, 'processing');
      assert.deepEqual(waiting.body.webhook, { url: `${receiver.url}/canceled`, status: 'pending', attempts: [], next_attempt_at: null });
      const cancel = await postJson(`${queued.url}/v1/images/tasks/${id}/cancel`, {});
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      assert.equal(cancel.body.status, 'canceled');
      const req = (await receiver.waitFor(before + 1))[before];
      assert.equal(req.path, '/canceled');
      assertSignedJson(req);
      const polled = await waitForWebhook(queued.url, id);
      assert.equal(polled.webhook.status, 'delivered');
      const body = JSON.parse(req.body);
      assert.deepEqual(body, withoutWebhook(polled));
      assert.equal(body.status, 'canceled');
    } finally {
      await queued.close();
      fs.rmSync(queued.dataDir, { recursive: true, force: true });
    }
  });

  test('a task without webhook_url has no webhook field', async () => {
    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a plain task', size: '256x256' });
    assert.equal(submit.status, 200, JSON.stringify(submit.body));
    const done = await pollTask(server.url, submit.body.task_id);
    assert.equal('webhook' in done, false);
  });
});

describe('webhook attempts that fail: timeouts, redirects, attempts running out; DNS pinning', () => {
  let server: TestServer;
  let hanging: http.Server;
  let hangingPort: number;
  const held: http.ServerResponse[] = [];
  before(async () => {
    hanging = http.createServer((_req, res) => { held.push(res); }); // never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingPort = (hanging.address() as AddressInfo).port;
    server = await startTestServer(
      { webhookAllowPrivate: true, webhookSecret: SECRET, webhookTimeoutSeconds: 0.3, webhookMaxAttempts: 2 },
      // Names under .test never resolve in real DNS: only this lookup knows them.
      { webhooks: { lookup: async (host) => (host === 'hooks.zimage.test' ? [{ address: '127.0.0.1', family: 4 }] : []) } },
    );
  });
  after(async () => {
    await server.close();
    for (const res of held) res.destroy();
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  test('no answer within ZIMAGE_WEBHOOK_TIMEOUT_SECONDS is a failed attempt; after the last attempt the delivery fails', async () => {
    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'slow receiver', size: '256x256', webhook_url: `http://127.0.0.1:${hangingPort}/slow` });
    assert.equal(submit.status, 200, JSON.stringify(submit.body));
    const id = submit.body.task_id;
    const first = await waitForWebhook(server.url, id, (w) => w?.attempts.length === 1);
    assert.equal(first.webhook.status, 'pending');
    assert.deepEqual([first.webhook.attempts[0].status_code, first.webhook.attempts[0].error], [null, 'timed out: no answer within 0.3 s']);
    await server.webhooks!.deliverDue(Date.now() + 3_600_000);
    const last = (await getJson(`${server.url}/v1/images/tasks/${id}`)).body.webhook;
    assert.equal(last.status, 'failed');
    assert.equal(last.next_attempt_at, null);
    assert.deepEqual(last.attempts.map((a: any) => a.error), ['timed out: no answer within 0.3 s', 'timed out: no answer within 0.3 s']);
    assert.equal(held.length, 2);
  });

  test('a redirect is not followed: it counts as a failed attempt', async () => {
    const redirecting = await startReceiver([302]);
    try {
      const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'moved', size: '256x256', webhook_url: `${redirecting.url}/old` });
      const id = submit.body.task_id;
      const first = await waitForWebhook(server.url, id, (w) => w?.attempts.length === 1);
      assert.deepEqual([first.webhook.attempts[0].status_code, first.webhook.attempts[0].error],
        [302, 'the receiver answered HTTP 302: redirects are not followed; point webhook_url at the final address']);
      assert.equal(first.webhook.status, 'pending');
      assert.equal(redirecting.received.length, 1);
    } finally {
      await redirecting.close();
    }
  });

  test('a host name is connected to the address the policy vetted, not looked up again', async () => {
    const receiver = await startReceiver();
    try {
      const submit = await postJson(`${server.url}/v1/images/async_generate`, {
        prompt: 'pinned', size: '256x256', webhook_url: `http://hooks.zimage.test:${receiver.port}/pinned`,
      });
      const polled = await waitForWebhook(server.url, submit.body.task_id);
      assert.equal(polled.webhook.status, 'delivered');
      const [req] = receiver.received;
      assert.equal(req.path, '/pinned');
      assert.equal(req.headers.host, `hooks.zimage.test:${receiver.port}`);
      assertSignedJson(req);
    } finally {
      await receiver.close();
    }
  });
});
