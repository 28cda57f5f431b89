/**
 * The playground over plain HTTP: GET / negotiates (browsers get the page, API clients keep
 * the JSON), the assets come from the fixed table with validators and a strict CSP, and the
 * OpenAPI document keeps GET / while hiding the asset routes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { loadPlaygroundAssets } from '../../src/playground/assets.js';
import { prefersHtml } from '../../src/playground/negotiate.js';
import { contentSecurityPolicy } from '../../src/playground/csp.js';
import { getJson, request } from '../helpers/http.js';
import { loopbackConfig, ROOT, startTestServer, tempDir, type TestServer } from '../helpers/server.js';

const CHROME_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
const FIREFOX_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

test('Accept negotiation: only a header preferring HTML over JSON picks the page', () => {
  for (const accept of [CHROME_ACCEPT, FIREFOX_ACCEPT, 'text/html', 'text/*', 'application/json;q=0.5, text/html']) {
    assert.equal(prefersHtml(accept), true, accept);
  }
  for (const accept of [undefined, '', '*/*', 'application/json', 'text/html, application/json', 'application/*',
    'text/html;q=0, */*', 'text/html;q=0.5, application/json', 'garbage', 'text/markdown']) {
    assert.equal(prefersHtml(accept), false, String(accept));
  }
});

describe('GET / and the playground assets', () => {
  let server: TestServer;
  let json: unknown;
  before(async () => {
    server = await startTestServer();
    json = (await getJson(`${server.url}/`)).body;
  });
  after(() => server.close());

  test('API clients (no Accept, */*, application/json) keep the JSON links, with Vary: Accept', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'text/html, application/json']) {
      const res = await request(`${server.url}/`, { headers: accept ? { accept } : {} });
      assert.equal(res.status, 200, String(accept));
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(res.headers.get('vary'), 'Accept');
      assert.deepEqual(res.body, json);
    }
    assert.equal((json as { links: { skill: string } }).links.skill, `${server.url}/SKILL.md`);
  });

  test('browsers get the page: HTML with a strict CSP, no inline script, nothing from another host', async () => {
    const res = await fetch(`${server.url}/`, { headers: { accept: CHROME_ACCEPT } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('vary'), 'Accept');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /img-src 'self' data: blob:(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    assert.match(html, /<label for="gen-prompt">Prompt<\/label>/);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/i, 'no inline styles or handlers');
    assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//, 'no absolute URLs');
    const linked = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => new URL(m[1], `${server.url}/`));
    assert.ok(linked.some((u) => u.pathname === '/playground/js/playground/browser/app.js'));
    for (const url of linked) {
      const asset = await fetch(url, { headers: { accept: CHROME_ACCEPT } });
      await asset.arrayBuffer();
      assert.equal(asset.status, 200, url.pathname);
    }
  });

  test('assets: content types, ETag and 304, caching and nosniff', async () => {
    const types: Record<string, RegExp> = {
      '/playground/styles.css': /^text\/css; charset=utf-8$/,
      '/playground/icon.svg': /^image\/svg\+xml$/,
      '/playground/js/playground/browser/app.js': /^text\/javascript; charset=utf-8$/,
      '/playground/js/client/client.js': /^text\/javascript; charset=utf-8$/,
      '/playground/js/client/sse.js': /^text\/javascript; charset=utf-8$/,
    };
    for (const [path, type] of Object.entries(types)) {
      const res = await fetch(`${server.url}${path}`);
      const body = await res.text();
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', type, path);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok(body.length > 0);
      const etag = res.headers.get('etag')!;
      assert.match(etag, /^"[\w-]{27}"$/);
      const again = await fetch(`${server.url}${path}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, path);
      assert.equal(await again.text(), '');
      assert.equal(again.headers.get('etag'), etag);
    }
    const page = await fetch(`${server.url}/`, { headers: { accept: 'text/html' } });
    await page.arrayBuffer();
    const revalidated = await fetch(`${server.url}/`, { headers: { accept: 'text/html', 'if-none-match': page.headers.get('etag')! } });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.headers.get('vary'), 'Accept');
  });

  test('only the fixed table is served: no other file, no traversal, nothing of the server code', async () => {
    for (const path of [
      '/playground/index.html', '/playground/../package.json', '/playground/%2e%2e/package.json', '/playground/js/tasks/params.js',
      '/playground/js/http/schemas.js', '/playground/js/playground/browser/app.ts', '/playground/js/', '/playground/',
      '/playground/js/playground/browser/%2e%2e/%2e%2e/%2e%2e/src/server.js', '/playground/js/client/client.js.map',
    ]) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 404, path);
    }
  });

  test('the asset routes are open even when API keys guard /v1', async (t) => {
    const guarded = await startTestServer({ apiKeys: 'alice:secret-key-1' });
    t.after(() => guarded.close());
    for (const path of ['/', '/playground/styles.css', '/playground/js/playground/browser/app.js']) {
      const res = await fetch(`${guarded.url}${path}`, { headers: { accept: 'text/html' } });
      await res.arrayBuffer();
      assert.equal(res.status, 200, path);
    }
    assert.equal((await getJson(`${guarded.url}/v1/images/tasks`)).status, 401);
  });

  test('OpenAPI documents GET / (JSON and HTML) and hides the asset routes', async () => {
    const doc = (await getJson(`${server.url}/openapi.json`)).body;
    assert.deepEqual(Object.keys(doc.paths['/'].get.responses[200].content), ['application/json', 'text/html']);
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/playground')));
  });
});

test('the CSP lets images come from the public URL and from presigned S3 hosts, nothing else', () => {
  const plain = contentSecurityPolicy(loopbackConfig());
  assert.match(plain, /img-src 'self' data: blob:;/);
  assert.match(plain, /connect-src 'self';/);
  const proxied = contentSecurityPolicy(loopbackConfig({ publicUrl: 'https://images.example.com' }));
  assert.match(proxied, /img-src 'self' data: blob: https:\/\/images\.example\.com;/);
  const minio = contentSecurityPolicy(loopbackConfig({
    storage: 's3://pics/out', outputsRedirect: true, s3Endpoint: 'http://minio:9000', s3ForcePathStyle: true,
  }));
  assert.match(minio, /img-src 'self' data: blob: http:\/\/minio:9000;/);
  assert.match(minio, /connect-src 'self' http:\/\/minio:9000;/);
  const aws = contentSecurityPolicy(loopbackConfig({ storage: 's3://pics', outputsRedirect: true, s3Region: 'eu-west-1' }));
  assert.match(aws, /img-src 'self' data: blob: https:\/\/pics\.s3\.eu-west-1\.amazonaws\.com https:\/\/s3\.eu-west-1\.amazonaws\.com;/);
  // Without the redirect, images stream through this server.
  assert.match(contentSecurityPolicy(loopbackConfig({ storage: 's3://pics' })), /img-src 'self' data: blob:;/);
});

test('without the compiled browser code, the page says to run npm run build', () => {
  const root = tempDir('zimage-playground-');
  fs.cpSync(path.join(ROOT, 'src/playground/assets'), path.join(root, 'src/playground/assets'), { recursive: true });
  const assets = loadPlaygroundAssets(root);
  assert.match(assets.problem ?? '', /npm run build/);
  assert.match(assets.page.body.toString(), /npm run build/);
  assert.deepEqual([...assets.files.keys()].sort(), ['/playground/icon.svg', '/playground/styles.css']);
  const built = loadPlaygroundAssets();
  assert.equal(built.problem, undefined);
  assert.ok(built.files.has('/playground/js/playground/browser/app.js'));
  assert.ok([...built.files.keys()].every((url) => /^\/playground\/(styles\.css|icon\.svg|js\/(playground\/browser|client)\/[\w/]+\.js)$/.test(url)));
});
