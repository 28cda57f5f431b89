/**
 * GET /metrics over real HTTP against a real server: the Prometheus text, task lifecycle
 * counters and durations fed by the task events, queue gauges read from the store, HTTP
 * requests labelled by route template, and webhook attempts by outcome.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { startReceiver, type Receiver } from '../webhooks/receiver.js';
import { FAIL_PROMPT, ScriptedEngine } from '../webhooks/scriptedEngine.js';
import { eventually, sample, scrape, seriesOf } from './scrape.js';

describe('GET /metrics', () => {
  let server: TestServer;
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver([500]); // the first delivery fails once, then succeeds
    server = await startTestServer({ webhookAllowPrivate: true }, {
      engine: new ScriptedEngine(), webhooks: { retryDelayMs: () => 0, tickMs: 20 },
    });
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
  });

  test('answers Prometheus text on loopback, with zimage_* families and the process metrics', async () => {
    const res = await scrape(server.url);
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    for (const family of ['zimage_tasks gauge', 'zimage_queue_depth gauge', 'zimage_tasks_finished_total counter',
      'zimage_task_queue_wait_seconds histogram', 'zimage_task_run_seconds histogram', 'zimage_task_stage_seconds histogram',
      'zimage_http_requests_total counter', 'zimage_webhook_attempts_total counter', 'zimage_engine_busy_ratio gauge',
      'process_resident_memory_bytes gauge', 'process_open_fds gauge']) {
      assert.ok(res.text.includes(`# TYPE ${family}`), `lacks ${family}`);
    }
    assert.equal(sample(res.text, 'zimage_engine_ready'), 1);
    assert.equal(sample(res.text, 'zimage_queue_limit'), server.config.maxQueue);
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(sample(res.text, 'zimage_build_info', { version, node: process.version, backend: 'sqlite', engine: 'synthetic' }), 1);
  });

  test('counts tasks as they finish: by state, failures by code, and their durations', async () => {
    const ok = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'a fox', size: '256x256' });
    const bad = await postJson(`${server.url}/v1/images/async_generate`, { prompt: `a fox ${FAIL_PROMPT}`, size: '256x256' });
    assert.equal((await pollTask(server.url, ok.body.task_id)).status, 'completed');
    assert.equal((await pollTask(server.url, bad.body.task_id)).status, 'failed');
    const text = await eventually(server.url, (t) => {
      assert.ok(sample(t, 'zimage_tasks_submitted_total')! >= 2);
      assert.ok(sample(t, 'zimage_tasks_finished_total', { state: 'completed' })! >= 1);
      assert.equal(sample(t, 'zimage_tasks_finished_total', { state: 'failed' }), 1);
      assert.equal(sample(t, 'zimage_task_failures_total', { code: 'out_of_memory' }), 1);
      assert.ok(sample(t, 'zimage_task_run_seconds_count', { kind: 'generate', state: 'failed' })! >= 1);
    });
    assert.ok(sample(text, 'zimage_task_queue_wait_seconds_count', { kind: 'generate' })! >= 2);
    assert.ok(sample(text, 'zimage_task_run_seconds_count', { kind: 'generate', state: 'completed' })! >= 1);
    assert.ok(sample(text, 'zimage_task_total_seconds_count', { kind: 'generate', state: 'completed' })! >= 1);
    assert.ok(sample(text, 'zimage_task_stage_seconds_count', { stage: 'engine' })! >= 1);
    assert.ok(sample(text, 'zimage_task_stage_seconds_count', { stage: 'finish' })! >= 1);
    assert.ok(sample(text, 'zimage_task_starts_total')! >= 2);
    // Every task that ran is counted in the buckets that hold it: the +Inf bucket equals the count.
    assert.equal(sample(text, 'zimage_task_run_seconds_bucket', { kind: 'generate', state: 'completed', le: '+Inf' }),
      sample(text, 'zimage_task_run_seconds_count', { kind: 'generate', state: 'completed' }));
  });

  test('labels HTTP requests by route template and status, never by the raw URL', async () => {
    const ids = ['0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210', 'not-a-task'];
    for (const id of ids) assert.equal((await getJson(`${server.url}/v1/images/tasks/${id}`)).status, 404);
    assert.equal((await getJson(`${server.url}/no/such/route/${ids[0]}`)).status, 404);
    const text = await eventually(server.url, (t) => {
      assert.ok(sample(t, 'zimage_http_requests_total', { method: 'GET', route: '/v1/images/tasks/:task_id', status: '404' })! >= 3);
      assert.ok(sample(t, 'zimage_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })! >= 1);
    });
    for (const id of ids) assert.ok(!text.includes(id), `the raw id ${id} became a label`);
    assert.ok(sample(text, 'zimage_http_request_duration_seconds_count', { method: 'GET', route: '/v1/images/tasks/:task_id' })! >= 3);
    assert.ok(seriesOf(text, 'zimage_http_requests_total').every((s) => /route="(\/[^"]*|unmatched)"/.test(s)));
  });

  test('counts webhook attempts by outcome: a failed attempt that will be retried, then the delivery', async () => {
    const res = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'hooked', size: '256x256', webhook_url: `${receiver.url}/hook` });
    assert.equal(res.status, 200);
    await receiver.waitFor(2);
    await eventually(server.url, (t) => {
      assert.equal(sample(t, 'zimage_webhook_attempts_total', { outcome: 'retry' }), 1);
      assert.equal(sample(t, 'zimage_webhook_attempts_total', { outcome: 'delivered' }), 1);
      assert.equal(sample(t, 'zimage_webhook_attempt_duration_seconds_count'), 2);
    });
  });
});

describe('GET /metrics queue gauges', () => {
  test('read queued and running counts from the store; no engine in this process reads as not ready', async (t) => {
    const server = await startTestServer({ worker: false });
    t.after(() => server.close());
    for (let i = 0; i < 3; i++) assert.equal((await postJson(`${server.url}/v1/images/async_generate`, { prompt: `q${i}` })).status, 200);
    const { text } = await scrape(server.url);
    assert.equal(sample(text, 'zimage_tasks', { state: 'queued' }), 3);
    assert.equal(sample(text, 'zimage_tasks', { state: 'running' }), 0);
    assert.equal(sample(text, 'zimage_queue_depth'), 3);
    assert.equal(sample(text, 'zimage_engine_ready'), 0);
    assert.deepEqual(seriesOf(text, 'zimage_workers'), []);
  });
});
