/**
 * Idempotency-Key on the submit endpoints: concurrent identical requests with one key make
 * one task and one engine run; keys are scoped per caller (API key).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import type { EngineContext, Job, RawImage } from '../../src/interfaces.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The synthetic engine, counting its runs per task. */
class CountingEngine extends SyntheticEngine {
  readonly runs = new Map<string, number>();
  override async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    this.runs.set(job.taskId, (this.runs.get(job.taskId) ?? 0) + 1);
    return super.run(job, ctx);
  }
}

const generate = (base: string, key: string, prompt = 'same cat') =>
  postJson(`${base}/v1/images/async_generate`, { prompt, size: '256x256' }, { 'Idempotency-Key': key });

describe('Idempotency-Key without auth', () => {
  let server: TestServer;
  let engine: CountingEngine;
  before(async () => {
    engine = new CountingEngine({ stepMs: 0 });
    server = await startTestServer({}, { engine });
  });
  after(() => server.close());

  test('concurrent async_generate with one key: one task, one run', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => generate(server.url, 'gen-key-1')));
    for (const a of answers) assert.equal(a.status, 200);
    const ids = new Set(answers.map((a) => a.body.task_id));
    assert.equal(ids.size, 1);
    const [id] = ids;
    assert.equal((await pollTask(server.url, id, 10_000)).status, 'completed');

    // The same key after it finished still names the same task, and nothing runs again.
    const later = await generate(server.url, 'gen-key-1');
    assert.equal(later.body.task_id, id);
    // The same key for a different request is refused rather than answered with the other task.
    const reused = await generate(server.url, 'gen-key-1', 'a different prompt');
    assert.equal(reused.status, 409);
    assert.equal(reused.body.error.code, 'idempotency_key_reused');
    assert.equal(reused.body.error.param, 'Idempotency-Key');
    assert.match(reused.body.error.message, new RegExp(id));
    const list = await getJson(`${server.url}/v1/images/tasks?limit=100`);
    assert.deepEqual(list.body.data.map((t: any) => t.task_id), [id]);
    assert.deepEqual([...engine.runs], [[id, 1]]);

    const other = await generate(server.url, 'gen-key-2');
    assert.notEqual(other.body.task_id, id);
  });

  test('concurrent async_edit with one key: one task, one run, one stored upload', async () => {
    const png = await solidPng(64, 64, [200, 40, 40]);
    const edit = () => request(`${server.url}/v1/images/async_edit`, {
      method: 'POST', headers: { 'Idempotency-Key': 'edit-key-1' }, body: form({ prompt: 'make it blue', size: '256x256' }, { image: { data: png } }),
    });
    const answers = await Promise.all(Array.from({ length: 4 }, edit));
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
    const ids = new Set(answers.map((a) => a.body.task_id));
    assert.equal(ids.size, 1);
    const [id] = ids;
    assert.equal((await pollTask(server.url, id, 10_000)).status, 'completed');
    assert.equal(engine.runs.get(id), 1);
    const edits = (await getJson(`${server.url}/v1/images/tasks?limit=100`)).body.data.filter((t: any) => t.kind === 'edit');
    assert.deepEqual(edits.map((t: any) => t.task_id), [id]);
    // The duplicates' uploads were deleted; only the task's own input remains.
    assert.equal(fs.readdirSync(path.join(server.dataDir, 'uploads')).length, 1);
  });
});

test('an idempotency key is scoped to its caller', async (t) => {
  const server = await startTestServer({ worker: false, apiKeys: 'alice:alice-secret-1,bob:bob-secret-2' });
  t.after(() => server.close());
  const as = (key: string) => postJson(`${server.url}/v1/images/async_generate`, { prompt: 'cat', size: '256x256' },
    { 'Idempotency-Key': 'shared-key', Authorization: `Bearer ${key}` });
  const [alice1, alice2, bob] = await Promise.all([as('alice-secret-1'), as('alice-secret-1'), as('bob-secret-2')]);
  assert.equal(alice1.body.task_id, alice2.body.task_id);
  assert.notEqual(alice1.body.task_id, bob.body.task_id);
  const listOf = async (key: string) =>
    (await request(`${server.url}/v1/images/tasks`, { headers: { 'X-API-Key': key } })).body.data.map((x: any) => x.task_id);
  assert.deepEqual(await listOf('alice-secret-1'), [alice1.body.task_id]);
  assert.deepEqual(await listOf('bob-secret-2'), [bob.body.task_id]);
});
