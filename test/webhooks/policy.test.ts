/**
 * Private webhook targets with ZIMAGE_WEBHOOK_ALLOW_PRIVATE off (the default): a literal
 * private IP is refused at submit; a host name resolving to loopback fails at delivery,
 * with the reason recorded and no retry.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { postJson } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startReceiver, waitForWebhook, type Receiver } from './receiver.js';

const HINT = 'The server only calls public addresses; its operator can allow private ones with ZIMAGE_WEBHOOK_ALLOW_PRIVATE=true.';

describe('webhook target policy (private targets not allowed)', () => {
  let server: TestServer;
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
    await receiver.close();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const submit = (webhook_url: string) =>
    postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256', webhook_url });

  test('a literal loopback or private IP answers 400 invalid_webhook_url at submit', async () => {
    const cases: Array<[string, string]> = [
      [`http://127.0.0.1:${receiver.port}/hook`, '127.0.0.1, which is not a public address (loopback)'],
      [`http://[::1]:${receiver.port}/hook`, '::1, which is not a public address (loopback)'],
      [`http://[::ffff:127.0.0.1]:${receiver.port}/hook`, '::ffff:7f00:1, which is not a public address (IPv4-embedded loopback)'],
      ['https://169.254.169.254/latest/meta-data', '169.254.169.254, which is not a public address (link-local)'],
      ['http://192.168.1.10/hook', '192.168.1.10, which is not a public address (private)'],
    ];
    for (const [url, what] of cases) {
      const res = await submit(url);
      assert.equal(res.status, 400, url);
      assert.deepEqual(res.body, {
        error: {
          message: `"webhook_url" points to ${what}. ${HINT}`,
          type: 'invalid_request_error', code: 'invalid_webhook_url', param: 'webhook_url',
        },
      });
    }
    const ftp = await submit('ftp://example.com/hook');
    assert.equal(ftp.status, 400);
    assert.equal(ftp.body.error.code, 'invalid_webhook_url');
    assert.equal(receiver.received.length, 0);
  });

  test('a host name that resolves to loopback: the delivery fails once with the reason recorded, no retry', async () => {
    const res = await submit(`http://localhost:${receiver.port}/hook`);
    assert.equal(res.status, 200);
    const polled = await waitForWebhook(server.url, res.body.task_id);
    assert.equal(polled.status, 'completed');
    const w = polled.webhook;
    assert.equal(w.status, 'failed');
    assert.equal(w.next_attempt_at, null);
    assert.equal(w.attempts.length, 1);
    assert.equal(w.attempts[0].status_code, null);
    assert.match(w.attempts[0].error, /^refused: localhost resolves to (127\.0\.0\.1|::1), which is not a public address \(loopback\)\. /);
    // Even a maintenance pass far in the future sends nothing more.
    assert.equal(await server.webhooks!.deliverDue(Date.now() + 86_400_000), 0);
    assert.equal(receiver.received.length, 0);
  });
});
