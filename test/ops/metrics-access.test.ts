/**
 * Who may read GET /metrics (ZIMAGE_METRICS): loopback callers freely; others with an API key
 * when the server has keys, and not at all when it has none; a request forwarded by a proxy
 * counts as remote. Callers from another address are real where this machine has a
 * non-loopback interface (the server listens on 0.0.0.0 and is called on that address).
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { startTestServer } from '../helpers/server.js';
import { scrape } from './scrape.js';

const FORWARDED = { 'x-forwarded-for': '203.0.113.9' };

/** An IPv4 address of this machine that is not loopback, if it has one. */
function lanAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function assertErrorShape(text: string, code: string) {
  const body = JSON.parse(text);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok('param' in body.error && 'type' in body.error);
}

describe('who may read /metrics', () => {
  test('auth off (default loopback): loopback yes; forwarded or remote callers get 403 metrics_forbidden', async (t) => {
    const server = await startTestServer({ host: '0.0.0.0' });
    t.after(() => server.close());
    assert.equal((await scrape(server.url)).status, 200);
    const proxied: Array<Record<string, string>> = [FORWARDED, { forwarded: 'for=203.0.113.9' }, { 'x-real-ip': '203.0.113.9' }];
    for (const headers of proxied) {
      const res = await scrape(server.url, headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assertErrorShape(res.text, 'metrics_forbidden');
      assert.match(JSON.parse(res.text).error.message, /ZIMAGE_METRICS=open/);
    }
    const lan = lanAddress();
    if (!lan) {
      t.diagnostic('no non-loopback IPv4 interface here: the remote-address case is covered by the forwarded headers only');
      return;
    }
    const port = new URL(server.url).port;
    const remote = await scrape(`http://${lan}:${port}`);
    assert.equal(remote.status, 403);
    assertErrorShape(remote.text, 'metrics_forbidden');
  });

  test('auth on: a remote caller needs one of the API keys (Bearer or X-API-Key); loopback needs none', async (t) => {
    const server = await startTestServer({ apiKeys: 'ops:metrics-key-1,alice:alice-key-2' });
    t.after(() => server.close());
    assert.equal((await scrape(server.url)).status, 200);
    const none = await scrape(server.url, FORWARDED);
    assert.equal(none.status, 401);
    assertErrorShape(none.text, 'invalid_api_key');
    const wrong = await scrape(server.url, { ...FORWARDED, authorization: 'Bearer not-a-key' });
    assert.equal(wrong.status, 401);
    assertErrorShape(wrong.text, 'invalid_api_key');
    assert.equal((await scrape(server.url, { ...FORWARDED, authorization: 'Bearer metrics-key-1' })).status, 200);
    assert.equal((await scrape(server.url, { ...FORWARDED, 'x-api-key': 'alice-key-2' })).status, 200);
  });

  test('ZIMAGE_METRICS=open serves anyone; off removes the route (a 404 in the error shape)', async (t) => {
    const open = await startTestServer({ metrics: 'open' });
    const off = await startTestServer({ metrics: 'off' });
    t.after(() => Promise.all([open.close(), off.close()]));
    assert.equal((await scrape(open.url, FORWARDED)).status, 200);
    const gone = await scrape(off.url);
    assert.equal(gone.status, 404);
    assert.ok(JSON.parse(gone.text).error);
  });
});
