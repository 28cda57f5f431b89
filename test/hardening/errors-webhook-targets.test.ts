/**
 * Webhook targets in the rest of the IANA special-purpose ranges (documentation, benchmarking,
 * Teredo, IPv4-mapped, reserved, ...) are refused like private ones: a literal address at submit
 * with 400, a host name that resolves there at delivery, with the reason recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postJson } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitForWebhook } from '../webhooks/receiver.js';

describe('webhook targets outside the global unicast space', () => {
  let server: TestServer;
  before(async () => {
    // The host name "docs.example" resolves to a documentation address (DNS seam of the dispatcher).
    server = await startTestServer({}, {
      webhooks: { lookup: async (host) => (host === 'docs.example' ? [{ address: '203.0.113.9', family: 4 }] : []) },
    });
  });
  after(() => server.close());

  const submit = (webhook_url: string) =>
    postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256', webhook_url });

  test('a literal address in any of them answers 400 invalid_webhook_url, naming the range', async () => {
    const cases: Array<[string, string]> = [
      ['http://192.0.2.10/hook', 'documentation (TEST-NET-1)'],
      ['http://198.51.100.7/hook', 'documentation (TEST-NET-2)'],
      ['http://203.0.113.5:8080/hook', 'documentation (TEST-NET-3)'],
      ['http://100.64.1.1/hook', 'carrier-grade NAT'],
      ['http://192.0.0.170/hook', 'IETF protocol assignments'],
      ['http://198.18.5.5/hook', 'benchmarking'],
      ['http://240.1.2.3/hook', 'reserved'],
      ['http://255.255.255.255/hook', 'limited broadcast'],
      ['http://[2001:db8::1]/hook', 'documentation'],
      ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook', 'Teredo'],
      ['http://[64:ff9b::10.1.2.3]/hook', 'IPv4-embedded private'],
      ['http://[2002:c0a8:101::1]/hook', '6to4 private'],
      ['http://[fd00::1]/hook', 'unique-local'],
      ['http://[fe80::1]/hook', 'link-local'],
      ['http://[ff02::1]/hook', 'multicast'],
      ['http://[::ffff:8.8.8.8]/hook', 'IPv4-mapped'],
      ['http://[100::1]/hook', 'not global unicast (reserved by IANA)'],
    ];
    for (const [url, reason] of cases) {
      const res = await submit(url);
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error.code, 'invalid_webhook_url', url);
      assert.equal(res.body.error.param, 'webhook_url');
      assert.ok(res.body.error.message.includes(`not a public address (${reason})`), `${url}: ${res.body.error.message}`);
    }
  });

  test('a host name resolving to a documentation address is refused at delivery, once, with the reason', async () => {
    const res = await submit('http://docs.example/hook');
    assert.equal(res.status, 200);
    const polled = await waitForWebhook(server.url, res.body.task_id);
    assert.equal(polled.webhook.status, 'failed');
    assert.equal(polled.webhook.attempts.length, 1, 'a refused target is not retried');
    assert.match(polled.webhook.attempts[0].error, /docs\.example resolves to 203\.0\.113\.9, which is not a public address \(documentation \(TEST-NET-3\)\)/);
  });
});
