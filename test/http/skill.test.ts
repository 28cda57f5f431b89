/**
 * GET /SKILL.md is kept in step with the API by running it: every curl example in the
 * served document is executed against a real server, following the documented flow
 * (health → submit → poll → download → b64_json → edit, then the optional extras), and
 * every documented response block is checked against the real answer. An example that
 * no test runs fails the suite.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { EXAMPLE_WEBHOOK_URL } from '../../src/skill/extras.js';
import { skillDoc } from '../../src/skill/skillDoc.js';
import { solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertShape, fetchDoc, parseDoc, receiver, Runner, type SkillDoc } from './skillExamples.js';

const PNG_MAGIC = '89504e470d0a1a0a';
const STEP1 = /^Option A/;
const seconds = (n: number) => AbortSignal.timeout(n * 1000);

/** Base URL as the document states it. */
const baseOf = (doc: SkillDoc) => /^-\s+\*\*Base URL\*\*: `([^`]+)`$/m.exec(doc.text)?.[1];

describe('GET /SKILL.md: every example runs as documented', () => {
  let server: TestServer;
  let queuedOnly: TestServer; // no worker: its tasks stay "processing" until canceled
  let hook: Awaited<ReturnType<typeof receiver>>;
  let run: Runner;
  before(async () => {
    [server, queuedOnly, hook] = await Promise.all([
      startTestServer({ webhookAllowPrivate: true }), startTestServer({ worker: false }), receiver(),
    ]);
    run = new Runner(await fetchDoc(server.url), { 'cat.png': await solidPng(64, 48, [200, 120, 40]) });
  });
  after(async () => {
    hook.close();
    await Promise.all([server.close(), queuedOnly.close()]);
  });

  const submitted = async (res: { status: number; body: any; text: string }) => {
    assert.equal(res.status, 200, res.text);
    assertShape(res.body, run.response(/^Task Response/, /Task Response/));
    return res.body.task_id as string;
  };
  const final = () => run.response(/^Step 2/, /Final Response \(when done\)/);
  const rendering = () => run.response(/^Step 2/, /Response while rendering/);

  test('front matter, the seed\'s contract wording, and this server\'s base URL in every example', () => {
    const { text, curls } = run.doc;
    assert.match(text, /^---\nname: z_image\ndescription: Z-Image Vision Generator - .+\n---\n/);
    for (const phrase of [
      '**POST** `/v1/images/async_generate`', '**POST** `/v1/images/async_edit`', '`multipart/form-data`',
      '**GET** `/v1/images/tasks/{task_id}`', 'every 5 seconds', 'until the status is `completed`',
      'add `"response_format": "b64_json"`', 'raw `image/png` binary file', '- **GET** `/health`', 'Returns `{"status": "ok"}`',
    ]) assert.ok(text.includes(phrase), phrase);
    assert.equal(baseOf(run.doc), server.url);
    for (const c of curls) assert.ok(c.url.startsWith(`${server.url}/`) || c.url === '{url}', c.raw);
    assert.match(text, /\*\*Engine\*\*: `synthetic`/);
    assert.match(text, /\*\*WARNING\*\*: this server runs the \*synthetic\* test-pattern engine/);
  });

  test('health, generate, poll, download the url, b64_json, edit an uploaded PNG', async () => {
    const health = await run.run(run.curl(/^Pre-flight/));
    assert.equal(health.status, 200);
    assertShape(health.body, JSON.parse(/Returns `(\{.*?\})`/.exec(run.doc.text)![1]));

    const id = await submitted(await run.run(run.curl(STEP1)));
    const done = await run.poll(id, rendering());
    assertShape(done, final());

    const image = await run.run(run.curl(/^Delivering/, /\{url\}/), { vars: { url: done.data[0].url } });
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/png');
    assert.equal(image.bytes.subarray(0, 8).toString('hex'), PNG_MAGIC);

    const b64Id = await submitted(await run.run(run.curl(/^Delivering/, /b64_json/)));
    const b64 = await run.poll(b64Id, rendering());
    assertShape(b64, run.response(/^Delivering/, /b64_json/));
    assert.equal(Buffer.from(b64.data[0].b64_json, 'base64').subarray(0, 8).toString('hex'), PNG_MAGIC);

    const editId = await submitted(await run.run(run.curl(/^Option B/)));
    const edited = await run.poll(editId, rendering());
    assert.equal(edited.status, 'completed');
    assert.match(edited.data[0].url, new RegExp(`^${server.url}/outputs/edit_[0-9a-f]+\\.png$`));
  });

  test('while rendering the poll answers as documented (a node without a worker keeps the task queued)', async () => {
    const id = await submitted(await run.run(run.curl(STEP1), { origin: queuedOnly.url }));
    const polled = await run.run(run.curl(/^Step 2/), { vars: { task_id: id }, origin: queuedOnly.url });
    assert.equal(polled.status, 200);
    assertShape(polled.body, rendering());
    assert.equal(polled.body.stage, 'queued');
  });

  test('cancel: the documented command cancels a queued task', async () => {
    const id = await submitted(await run.run(run.curl(STEP1), { origin: queuedOnly.url }));
    const res = await run.run(run.curl(/^Cancel/), { vars: { task_id: id }, origin: queuedOnly.url });
    assert.equal(res.status, 200, res.text);
    assertShape(res.body, run.response(/^Cancel/, /Response/));
    const polled = await run.run(run.curl(/^Step 2/), { vars: { task_id: id }, origin: queuedOnly.url });
    assert.equal(polled.body.status, 'canceled');
  });

  test('long-poll answers with the finished task in one request', async () => {
    const id = await submitted(await run.run(run.curl(STEP1)));
    const res = await run.run(run.curl(/long-poll/), { vars: { task_id: id } });
    assert.equal(res.status, 200);
    assertShape(res.body, final());
  });

  test('Server-Sent Events end with the final task', async () => {
    const id = await submitted(await run.run(run.curl(STEP1)));
    const res = await run.run(run.curl(/Server-Sent Events/), { vars: { task_id: id }, init: { signal: seconds(20) } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const events = res.text.split('\n\n').filter((e) => /^data: /m.test(e));
    const last = events[events.length - 1];
    assert.match(last, /^event: completed$/m);
    assertShape(JSON.parse(/^data: (.*)$/m.exec(last)![1]), final());
  });

  test('list your tasks', async () => {
    const res = await run.run(run.curl(/^List your tasks/));
    assert.equal(res.status, 200);
    assertShape(res.body, run.response(/^List your tasks/, /Response/));
  });

  test('webhooks: the finished task is POSTed to webhook_url, signed', async () => {
    const c = run.curl(/^Webhooks/);
    assert.equal(JSON.parse(c.data!).webhook_url, EXAMPLE_WEBHOOK_URL);
    const id = await submitted(await run.run(c, { edit: (body) => ({ ...body, webhook_url: hook.url }) }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([hook.next(), new Promise((_r, reject) => { timer = setTimeout(() => reject(new Error('no webhook in 15 s')), 15_000); })]);
    clearTimeout(timer);
    const delivery = hook.got[0];
    assert.equal(delivery.body.task_id, id);
    assertShape(delivery.body, final());
    for (const h of ['webhook-id', 'webhook-timestamp']) assert.ok(delivery.headers[h], h);
    assert.match(String(delivery.headers['webhook-signature']), /^v1,/);
  });

  test('Idempotency-Key: sending the same submit twice gives one task', async () => {
    const c = run.curl(/Idempotency-Key/);
    const first = await submitted(await run.run(c));
    assert.equal(await submitted(await run.run(c)), first);
  });

  test('OpenAI-compatible generations and edits answer as documented', async () => {
    const documented = run.response(/OpenAI-compatible/, /Response/);
    const gen = await run.run(run.curl(/OpenAI-compatible/, /generations/));
    assert.equal(gen.status, 200, gen.text);
    assertShape(gen.body, documented);
    const edit = await run.run(run.curl(/OpenAI-compatible/, /edits/));
    assert.equal(edit.status, 200, edit.text);
    assertShape(edit.body, JSON.parse(JSON.stringify(documented).replace('/outputs/gen_', '/outputs/edit_')));
  });

  test('every example in the document was run by the tests above', () => {
    const missed = run.doc.curls.filter((c) => !run.ran.has(c.raw)).map((c) => c.raw);
    assert.deepEqual(missed, []);
  });
});

describe('GET /SKILL.md: base URL, engine, auth and extras follow the configuration', () => {
  test('abilities a server lacks are left out (skillDoc is a function of what exists)', () => {
    const none = { longPoll: null, events: null, cancel: null, list: null, webhooks: false, idempotency: false, openaiGenerations: false, openaiEdits: false };
    const text = skillDoc({
      baseUrl: 'http://10.0.0.5:8003', config: { maxUploadMb: 5, retentionHours: 24, syncTimeoutSeconds: 300 }, auth: false,
      engine: { name: 'diffusers', synthetic: false, state: { state: 'ready', model: 'Tongyi-MAI/Z-Image-Turbo' } }, features: none,
    });
    const doc = parseDoc(text);
    assert.equal(baseOf(doc), 'http://10.0.0.5:8003');
    assert.match(text, /\*\*Engine\*\*: `diffusers` \(model `Tongyi-MAI\/Z-Image-Turbo`\), ready\n/);
    for (const absent of ['WARNING', '## Optional extras', '**Authentication**', '?wait=', '/events', '/cancel', 'webhook_url',
      'Idempotency-Key', '/v1/images/tasks"', '/v1/images/generations', '/v1/images/edits']) assert.ok(!text.includes(absent), absent);
    assert.match(text, /up to 5 MiB/);
    assert.match(text, /kept for 24 hours/);
    assert.deepEqual(doc.curls.map((c) => `${c.method} ${c.url.replace('http://10.0.0.5:8003', '')}`), [
      'POST /v1/images/async_generate', 'POST /v1/images/async_edit', 'GET /v1/images/tasks/{task_id}',
      'GET {url}', 'POST /v1/images/async_generate', 'GET /health',
    ]);
  });

  test('a node without a worker says so', async (t) => {
    const server = await startTestServer({ worker: false });
    t.after(() => server.close());
    const doc = await fetchDoc(server.url);
    assert.match(doc.text, /\*\*Engine\*\*: none right now: tasks are accepted and wait in the queue/);
    assert.doesNotMatch(doc.text, /WARNING/);
  });

  test('ZIMAGE_PUBLIC_URL is the base URL of the document and of every example', async (t) => {
    const server = await startTestServer({ publicUrl: 'https://img.example.com:8443' });
    t.after(() => server.close());
    const doc = await fetchDoc(server.url);
    assert.equal(baseOf(doc), 'https://img.example.com:8443');
    assert.ok(doc.curls.length > 5);
    for (const c of doc.curls) assert.ok(c.url.startsWith('https://img.example.com:8443/') || c.url === '{url}', c.raw);
  });

  test('without it, the base URL is the one the client used (Host header)', async (t) => {
    const server = await startTestServer();
    t.after(() => server.close());
    const text = await new Promise<string>((resolve, reject) => {
      const port = new URL(server.url).port;
      http.get({ host: '127.0.0.1', port, path: '/SKILL.md', headers: { host: `zimage.lan:${port}` } }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.match(text, new RegExp(`^-\\s+\\*\\*Base URL\\*\\*: \`http://zimage\\.lan:${new URL(server.url).port}\`$`, 'm'));
  });

  test('with ZIMAGE_API_KEYS every /v1 example carries the key header and works with a real key', async (t) => {
    const server = await startTestServer({ apiKeys: 'agent:sk-test-123' });
    t.after(() => server.close());
    const run = new Runner(await fetchDoc(server.url), {}, 'sk-test-123');
    assert.match(run.doc.text, /\*\*Authentication\*\*: every `\/v1\/\.\.\.` request needs the header `Authorization: Bearer YOUR_API_KEY`/);
    for (const c of run.doc.curls) {
      const v1 = new URL(c.url === '{url}' ? 'http://x/outputs/x' : c.url.replace(/\{\w+\}/g, 'x')).pathname.startsWith('/v1/');
      assert.equal(c.headers.Authorization, v1 ? 'Bearer YOUR_API_KEY' : undefined, c.raw);
    }
    const submit = run.curl(STEP1);
    const refused = await run.run(submit, { init: { headers: { 'Content-Type': 'application/json' } } });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'invalid_api_key');
    const res = await run.run(submit);
    assert.equal(res.status, 200, res.text);
    const done = await run.poll(res.body.task_id, run.response(/^Step 2/, /Response while rendering/));
    assertShape(done, run.response(/^Step 2/, /Final Response \(when done\)/));
    const image = await run.run(run.curl(/^Delivering/, /\{url\}/), { vars: { url: done.data[0].url } });
    assert.equal(image.status, 200);
  });
});
