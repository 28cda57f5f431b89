/**
 * GET /openapi.json is a valid OpenAPI 3.1 document (checked by @readme/openapi-parser),
 * generated from the schemas that validate requests, whose response schemas describe the
 * real answers (checked with Ajv against live responses); /docs renders it offline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileErrors, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { DEFAULT_SIZE, MAX_PROMPT_CHARS } from '../../src/tasks/params.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>;

async function assertValidOpenApi(doc: Json) {
  // The parser dereferences in place: give it a copy.
  const result = await validate(structuredClone(doc) as Parameters<typeof validate>[0]);
  assert.ok(result.valid, result.valid ? '' : compileErrors(result));
  assert.deepEqual(result.warnings, []);
}

describe('GET /openapi.json', () => {
  let server: TestServer;
  let doc: Json;
  before(async () => {
    server = await startTestServer();
    const res = await getJson(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = res.body;
  });
  after(() => server.close());

  test('passes the OpenAPI 3.1 validator, with this server as its server', async () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'Z-Image Server');
    assert.deepEqual(doc.servers, [{ url: server.url, description: 'This server' }]);
    await assertValidOpenApi(doc);
  });

  test('documents the contract routes and the extras; hides the docs UI', () => {
    const ops = Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    for (const op of [
      'GET /health', 'POST /v1/images/async_generate', 'POST /v1/images/async_edit', 'GET /v1/images/tasks/{task_id}',
      'GET /outputs/{file}', 'GET /openapi.json', 'GET /SKILL.md', 'POST /v1/images/generations', 'POST /v1/images/edits',
      'GET /v1/images/tasks/{task_id}/events', 'POST /v1/images/tasks/{task_id}/cancel', 'GET /v1/images/tasks',
    ]) assert.ok(ops.includes(op), op);
    assert.ok(!ops.some((op) => op.includes('/docs')), 'swagger-ui routes are not part of the API');
  });

  test('request bodies come from the validating schemas; edits are multipart with a binary image', () => {
    const gen = doc.paths['/v1/images/async_generate'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(gen.required, ['prompt']);
    assert.equal(gen.properties.prompt.maxLength, MAX_PROMPT_CHARS);
    assert.equal(gen.properties.size.default, DEFAULT_SIZE);
    assert.deepEqual([gen.properties.n.minimum, gen.properties.n.maximum], [1, 4]);
    assert.equal(gen.properties.webhook_url.type, 'string');
    const header = doc.paths['/v1/images/async_generate'].post.parameters.find((p: Json) => p.in === 'header');
    assert.equal(header.name, 'idempotency-key');

    for (const path of ['/v1/images/async_edit', '/v1/images/edits']) {
      const content = doc.paths[path].post.requestBody.content;
      assert.deepEqual(Object.keys(content), ['multipart/form-data'], path);
      const schema = content['multipart/form-data'].schema;
      assert.deepEqual(schema.required.slice(0, 2), ['image', 'prompt'], path);
      assert.equal(schema.properties.image.type, 'string');
      assert.equal(schema.properties.image.format, 'binary');
      assert.equal(schema.properties.image.contentMediaType, 'application/octet-stream');
      assert.equal(schema.properties.mask.format, 'binary');
      assert.equal(schema.properties.prompt.maxLength, MAX_PROMPT_CHARS);
    }
    assert.equal(doc.paths['/v1/images/async_edit'].post.requestBody.content['multipart/form-data'].schema.properties.strength.maximum, 1);
  });

  test('responses: the error object, the task, the submit answer, health and the image bytes', () => {
    const refOf = (path: string, method: string, status: number, type = 'application/json') =>
      doc.paths[path][method].responses[status].content[type].schema.$ref;
    const error = doc.components.schemas.Error;
    assert.deepEqual(error.required, ['error']);
    assert.deepEqual(error.properties.error.required, ['message', 'type', 'code', 'param']);
    assert.deepEqual(error.properties.error.properties.param.anyOf.map((s: Json) => s.type), ['string', 'null']);
    assert.equal(refOf('/v1/images/async_generate', 'post', 200), '#/components/schemas/SubmitResponse');
    assert.equal(refOf('/v1/images/async_generate', 'post', 400), '#/components/schemas/Error');
    assert.equal(refOf('/v1/images/async_edit', 'post', 415), '#/components/schemas/Error');
    assert.equal(refOf('/v1/images/tasks/{task_id}', 'get', 200), '#/components/schemas/Task');
    assert.equal(refOf('/v1/images/tasks/{task_id}', 'get', 404), '#/components/schemas/TaskNotFound');
    assert.equal(refOf('/health', 'get', 200), '#/components/schemas/Health');
    assert.deepEqual(doc.components.schemas.Task.properties.status.anyOf.map((s: Json) => s.enum[0]),
      ['processing', 'completed', 'failed', 'canceled']);
    const png = doc.paths['/outputs/{file}'].get.responses[200].content['image/png'].schema;
    assert.deepEqual([png.type, png.format], ['string', 'binary']);
    const wait = doc.paths['/v1/images/tasks/{task_id}'].get.parameters.find((p: Json) => p.name === 'wait');
    assert.equal(wait.in, 'query');
  });

  test('the documented response schemas accept the real answers', async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema(doc, 'openapi');
    const check = (name: string, body: unknown) => {
      const validateFn = ajv.getSchema(`openapi#/components/schemas/${name}`)!;
      assert.ok(validateFn(body), `${name}: ${ajv.errorsText(validateFn.errors)} in ${JSON.stringify(body).slice(0, 400)}`);
    };
    check('Health', (await getJson(`${server.url}/health`)).body);
    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256', n: 2 });
    check('SubmitResponse', submit.body);
    check('Task', (await getJson(`${server.url}/v1/images/tasks/${submit.body.task_id}`)).body);
    check('Task', await pollTask(server.url, submit.body.task_id));
    const b64 = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256', response_format: 'b64_json' });
    check('Task', await pollTask(server.url, b64.body.task_id));
    const edit = await request(`${server.url}/v1/images/async_edit`, {
      method: 'POST', body: form({ prompt: 'sad', size: '256x256' }, { image: { data: await solidPng(64, 64, [9, 9, 9]) } }),
    });
    check('SubmitResponse', edit.body);
    check('Task', await pollTask(server.url, edit.body.task_id));
    check('TaskNotFound', (await getJson(`${server.url}/v1/images/tasks/${'0'.repeat(32)}`)).body);
    check('Error', (await postJson(`${server.url}/v1/images/async_generate`, { prompt: '' })).body);
    check('Error', (await request(`${server.url}/v1/images/async_edit`, { method: 'POST', body: 'x' })).body);
    check('TaskList', (await getJson(`${server.url}/v1/images/tasks`)).body);
  });

  test('answers keep every field the handlers return (response schemas do not filter them)', async () => {
    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a cat', size: '256x256' });
    const raw = await (await fetch(`${server.url}/v1/images/tasks/${submit.body.task_id}?wait=30`)).text();
    const body = JSON.parse(raw);
    assert.equal(raw, JSON.stringify(body));
    assert.deepEqual(Object.keys(body).slice(0, 4), ['task_id', 'status', 'kind', 'created_at']);
    assert.deepEqual(Object.keys(body.data[0]), ['url', 'seed', 'width', 'height', 'output_format']);
  });
});

describe('GET /docs', () => {
  test('renders the document with bundled assets only (no CDN)', async (t) => {
    const server = await startTestServer();
    t.after(() => server.close());
    const page = await fetch(`${server.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1], `${server.url}/docs`));
    assert.ok(assets.some((u) => u.pathname.endsWith('/swagger-ui-bundle.js')));
    for (const url of assets) {
      assert.equal(url.origin, server.url, `asset from another host: ${url}`);
      const res = await fetch(url);
      await res.arrayBuffer(); // an unread body would keep the connection busy and delay close
      assert.equal(res.status, 200, url.pathname);
    }
    // The UI loads its spec from /docs/json: the same document as /openapi.json.
    assert.deepEqual((await getJson(`${server.url}/docs/json`)).body, (await getJson(`${server.url}/openapi.json`)).body);
  });

  test('with ZIMAGE_API_KEYS the document declares the key schemes and 401 on /v1 routes, and stays valid', async (t) => {
    const server = await startTestServer({ apiKeys: 'agent:sk-test-123', publicUrl: 'https://img.example.com' });
    t.after(() => server.close());
    const doc = (await getJson(`${server.url}/openapi.json`)).body;
    await assertValidOpenApi(doc);
    assert.deepEqual(doc.servers, [{ url: 'https://img.example.com', description: 'This server' }]);
    assert.deepEqual(Object.keys(doc.components.securitySchemes), ['bearer', 'apiKey']);
    const submit = doc.paths['/v1/images/async_generate'].post;
    assert.deepEqual(submit.security, [{ bearer: [] }, { apiKey: [] }]);
    assert.equal(submit.responses[401].content['application/json'].schema.$ref, '#/components/schemas/Error');
    assert.equal(doc.paths['/health'].get.security, undefined);
  });
});
