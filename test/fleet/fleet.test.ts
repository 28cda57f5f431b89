/**
 * Fleet mode end to end on real services: PostgreSQL, Redis (BullMQ) and an S3-compatible
 * server (s3rver), an API node in this process and `zimage worker` subprocesses that are
 * SIGKILLed for real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fleetConfig, fleetEnv, spawnWorker, useFleetServices, waitForWorkers, type SpawnedWorker } from '../helpers/fleet.js';
import { getJson, pollTask, postJson, request } from '../helpers/http.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startReceiver, verifyStandardWebhook } from '../webhooks/receiver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const services = useFleetServices();
let s3: TestS3;
before(async () => { s3 = await startS3rver(); });
after(() => s3?.close());

/** Worker log lines "task completed", per task id. */
function completions(workers: SpawnedWorker[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of workers) {
    for (const line of w.output().split('\n')) {
      if (!line.includes('"msg":"task completed"')) continue;
      const id = JSON.parse(line).task as string;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

async function waitAll(url: string, ids: string[], timeoutMs = 90_000): Promise<Array<Record<string, any>>> {
  return Promise.all(ids.map((id) => pollTask(url, id, timeoutMs)));
}

describe('fleet: one API node, three worker processes, S3 storage', () => {
  let api: TestServer;
  let workers: SpawnedWorker[] = [];
  let env: Record<string, string>;

  before(async () => {
    const config = await fleetConfig(services.postgres, services.redis, {
      leaseSeconds: 2, storage: `s3://${s3.bucket}/fleet`, s3Endpoint: s3.endpoint, s3ForcePathStyle: true, s3Checksums: 'when_required',
    });
    env = fleetEnv(config, {
      ZIMAGE_STORAGE: config.storage, ZIMAGE_S3_ENDPOINT: s3.endpoint, ZIMAGE_S3_FORCE_PATH_STYLE: 'true', ZIMAGE_S3_CHECKSUMS: 'when_required',
      ZIMAGE_SYNTHETIC_STEP_MS: '10',
    });
    workers = await Promise.all([1, 2, 3].map(() => spawnWorker(env)));
    api = await startTestServer({ ...config, worker: false });
    await waitForWorkers(api, 3);
  });
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await api?.close();
  });

  test('200 tasks while one worker is SIGKILLed mid-task: every task completes exactly once, every image downloads from S3', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const res = await postJson(`${api.url}/v1/images/async_generate`, { prompt: `fleet ${i}`, size: '256x256' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      ids.push(res.body.task_id);
    }
    // Kill a worker while it runs a task (the registry says which one it runs).
    let victim: { pid: number; task: string } | undefined;
    const deadline = Date.now() + 20_000;
    while (!victim && Date.now() < deadline) {
      const live = await api.workers.live();
      const busy = live.find((w) => w.currentTask && workers.some((p) => p.pid === w.pid));
      if (busy) victim = { pid: busy.pid, task: busy.currentTask! };
      else await sleep(5);
    }
    assert.ok(victim, 'a worker was seen running a task');
    const killed = workers.find((w) => w.pid === victim!.pid)!;
    killed.kill('SIGKILL');
    assert.equal(await killed.exited, 'SIGKILL');

    const done = await waitAll(api.url, ids);
    assert.deepEqual(done.map((t) => t.status), ids.map(() => 'completed'));
    // No task ran to completion twice. The killed worker may have committed one last task in
    // the instant before SIGKILL without getting to log it, so at most one may show no log line.
    const counts = completions(workers);
    for (const id of ids) assert.ok((counts.get(id) ?? 0) <= 1, `task ${id} completed ${counts.get(id)} times`);
    assert.ok(ids.filter((id) => !counts.has(id)).length <= 1, 'every other task logged its one completion');
    // The dead worker's task (unless it finished in the instant before the kill) ran again elsewhere.
    const again = await api.queue.get(victim!.task);
    assert.equal(again?.state, 'completed');

    const images = await Promise.all(done.map(async (t) => {
      const res = await fetch(t.data[0].url);
      return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
    }));
    for (const img of images) {
      assert.equal(img.status, 200);
      assert.equal(img.type, 'image/png');
      assert.deepEqual([...img.bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    }
    workers = workers.filter((w) => w !== killed);
  });

  test('Redis restarted with its data flushed mid-run: no accepted task is lost', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await postJson(`${api.url}/v1/images/async_generate`, { prompt: `flush ${i}`, size: '256x256' })).body.task_id);
    await sleep(150);
    await services.redis.restart({ flush: true });
    // Tasks accepted while Redis is back but empty get their tickets the normal way; the rest from the reconciler.
    for (let i = 0; i < 10; i++) ids.push((await postJson(`${api.url}/v1/images/async_generate`, { prompt: `after ${i}`, size: '256x256' })).body.task_id);
    const done = await waitAll(api.url, ids);
    assert.deepEqual(done.map((t) => t.status), ids.map(() => 'completed'));
    // A worker logs "task completed" after its commit, and the line crosses a pipe: a poll can
    // see the task completed before its log line arrives. Wait for the lines, then count them.
    const deadline = Date.now() + 10_000;
    while (ids.some((id) => !completions(workers).has(id)) && Date.now() < deadline) await sleep(50);
    const counts = completions(workers);
    for (const id of ids) assert.equal(counts.get(id), 1, `task ${id} completed ${counts.get(id) ?? 0} times`);
  });
});

describe('fleet: cancel, SSE and health across nodes', () => {
  let a: TestServer;
  let b: TestServer;
  let worker: SpawnedWorker;

  before(async () => {
    const config = await fleetConfig(services.postgres, services.redis, { leaseSeconds: 5 });
    worker = await spawnWorker(fleetEnv(config, { ZIMAGE_SYNTHETIC_STEP_MS: '100' }));
    a = await startTestServer({ ...config, worker: false, webhookAllowPrivate: true });
    b = await startTestServer({ ...config, worker: false, webhookAllowPrivate: true });
    await waitForWorkers(a, 1);
  });
  after(async () => {
    worker?.kill('SIGTERM');
    await worker?.exited;
    await Promise.all([a?.close(), b?.close()]);
  });

  test('/health and /v1/models on an API-only node answer from the worker registry', async () => {
    const health = await getJson(`${b.url}/health`);
    assert.equal(health.body.ready, true);
    assert.equal(health.body.engine.name, 'synthetic');
    assert.equal(health.body.workers.length, 1);
    assert.equal(health.body.workers[0].engine_state, 'ready');
    assert.equal(health.body.queue.backend, 'postgres');
    const models = await getJson(`${b.url}/v1/models`);
    assert.deepEqual(models.body.data.map((m: { id: string }) => m.id), ['synthetic-test-pattern']);
  });

  test('a cancel sent to node A stops the task running in the worker process within one step', async () => {
    const submit = await postJson(`${a.url}/v1/images/async_generate`, { prompt: 'long', size: '256x256', num_inference_steps: 50 });
    const id = submit.body.task_id;
    let step = 0;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && step < 2; await sleep(20)) {
      step = (await getJson(`${a.url}/v1/images/tasks/${id}`)).body.step ?? 0;
    }
    assert.ok(step >= 2, 'the task is running');
    const cancel = await request(`${a.url}/v1/images/tasks/${id}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 200);
    const atCancel = (await a.queue.get(id))!.progress!.step;
    const final = await pollTask(a.url, id, 10_000);
    assert.equal(final.status, 'canceled');
    const after = (await a.queue.get(id))!.progress!.step;
    assert.ok(after - atCancel <= 1, `ran ${after - atCancel} steps after the cancel`);
  });

  test('SSE on node B streams the progress of a task submitted on node A', async () => {
    const submit = await postJson(`${a.url}/v1/images/async_generate`, { prompt: 'watched', size: '256x256', num_inference_steps: 6 });
    const res = await fetch(`${b.url}/v1/images/tasks/${submit.body.task_id}/events`, { headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk);
      if (/event: completed/.test(text)) break;
    }
    const steps = [...text.matchAll(/"step":(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(steps.some((s) => s > 0 && s < 6), `progress events arrived: ${steps.join(',')}`);
    assert.match(text, /event: completed/);
  });

  test('the synchronous OpenAI route and ?wait on node B return tasks run by the worker process', async () => {
    const sync = await postJson(`${b.url}/v1/images/generations`, { prompt: 'sync', size: '256x256', num_inference_steps: 2, response_format: 'url' });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    assert.equal(sync.body.data.length, 1);
    assert.match(sync.body.data[0].url ?? '', /\/outputs\/gen_[a-f0-9]{32}\.png$/);
    const submit = await postJson(`${a.url}/v1/images/async_generate`, { prompt: 'wait', size: '256x256', num_inference_steps: 3 });
    const waited = await getJson(`${b.url}/v1/images/tasks/${submit.body.task_id}?wait=20`);
    assert.equal(waited.body.status, 'completed');
  });

  test('with two API nodes, each webhook is delivered once, signed with the shared secret', async () => {
    const receiver = await startReceiver();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const node = i % 2 ? b : a;
        const res = await postJson(`${node.url}/v1/images/async_generate`, { prompt: `hook ${i}`, size: '256x256', num_inference_steps: 1, webhook_url: `${receiver.url}/hook` });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        ids.push(res.body.task_id);
      }
      await waitAll(a.url, ids, 30_000);
      await receiver.waitFor(ids.length, 15_000);
      await sleep(1500); // a second delivery, if any, would arrive by now
      const delivered = receiver.received.map((r) => JSON.parse(r.body).task_id as string);
      assert.deepEqual([...delivered].sort(), [...ids].sort(), 'each task exactly once');
      for (const r of receiver.received) assert.ok(verifyStandardWebhook(r, a.config.webhookSecret));
    } finally {
      await receiver.close();
    }
  });
});

describe('fleet: zimage worker drains on SIGTERM', () => {
  test('the running task goes back to the queue without spending an attempt, and another worker finishes it', async () => {
    const config = await fleetConfig(services.postgres, services.redis, { leaseSeconds: 5 });
    const env = fleetEnv(config, { ZIMAGE_SYNTHETIC_STEP_MS: '100', ZIMAGE_SHUTDOWN_GRACE_SECONDS: '0.3' });
    const first = await spawnWorker(env);
    const api = await startTestServer({ ...config, worker: false });
    let second: SpawnedWorker | undefined;
    try {
      const id = (await postJson(`${api.url}/v1/images/async_generate`, { prompt: 'drain', size: '256x256', num_inference_steps: 30 })).body.task_id;
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(20)) {
        if (((await api.queue.get(id))?.progress?.step ?? 0) >= 1) break;
      }
      first.kill('SIGTERM');
      assert.equal(await first.exited, 0, first.output());
      const handedBack = await api.queue.get(id);
      assert.deepEqual([handedBack?.state, handedBack?.attempts], ['queued', 0]);
      assert.match(first.output(), /task handed back to the queue for shutdown/);
      second = await spawnWorker(fleetEnv(config, { ZIMAGE_SYNTHETIC_STEP_MS: '0' }));
      const done = await pollTask(api.url, id, 20_000);
      assert.equal(done.status, 'completed');
      assert.equal((await api.queue.get(id))?.attempts, 1);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      await second?.exited;
      await api.close();
    }
  });
});
