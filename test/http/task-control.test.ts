/**
 * Task control over real HTTP: listing with filters and cursor pages, cancel of queued and
 * running tasks, and the ?wait=N long poll.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { getJson, pollTask, postJson, request } from '../helpers/http.js';
import { countSubscriptions, startTestServer, type TestServer } from '../helpers/server.js';

const small = (prompt: string, extra: Record<string, unknown> = {}) => ({ prompt, size: '256x256', ...extra });

async function submit(base: string, prompt: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await postJson(`${base}/v1/images/async_generate`, small(prompt, extra));
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.task_id;
}

const errorOf = (code: string, param: string | null, type = 'invalid_request_error') => ({
  error: { message: String, type, code, param },
});

/** Checks the error shape exactly, with any non-empty message. */
function assertError(body: any, expected: ReturnType<typeof errorOf>) {
  assert.equal(typeof body.error?.message, 'string');
  assert.ok(body.error.message.length > 20, body.error.message);
  assert.deepEqual({ ...body, error: { ...body.error, message: String } }, expected);
}


async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('listing and canceling queued tasks (no worker: tasks stay queued)', () => {
  let server: TestServer;
  let base: string;
  const ids: string[] = [];
  before(async () => {
    server = await startTestServer({ worker: false });
    base = server.url;
    for (const p of ['one', 'two', 'three']) ids.push(await submit(base, p));
  });
  after(() => server.close());

  test('lists newest first, as the poll endpoint shows each task', async () => {
    const res = await getJson(`${base}/v1/images/tasks`);
    assert.equal(res.status, 200);
    assert.equal(res.body.object, 'list');
    assert.equal(res.body.has_more, false);
    assert.equal(res.body.next_cursor, null);
    assert.deepEqual(res.body.data.map((t: any) => t.task_id), [...ids].reverse());
    const polled = await getJson(`${base}/v1/images/tasks/${ids[0]}`);
    assert.deepEqual(res.body.data[2], polled.body);
    assert.equal(polled.body.stage, 'queued');
    assert.equal(polled.body.queue_position, 0);
  });

  test('pages with limit and next_cursor', async () => {
    const first = await getJson(`${base}/v1/images/tasks?limit=2`);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.data.map((t: any) => t.task_id), [ids[2], ids[1]]);
    assert.equal(first.body.has_more, true);
    assert.equal(typeof first.body.next_cursor, 'string');
    const second = await getJson(`${base}/v1/images/tasks?limit=2&cursor=${first.body.next_cursor}`);
    assert.equal(second.status, 200);
    assert.deepEqual(second.body.data.map((t: any) => t.task_id), [ids[0]]);
    assert.equal(second.body.has_more, false);
    assert.equal(second.body.next_cursor, null);
  });

  test('rejects a bad status, limit or cursor with 400', async () => {
    for (const [query, code, param] of [
      ['status=done', 'invalid_status', 'status'],
      ['status=completed,bogus', 'invalid_status', 'status'],
      ['limit=0', 'invalid_limit', 'limit'],
      ['limit=101', 'invalid_limit', 'limit'],
      ['limit=ten', 'invalid_limit', 'limit'],
      ['limit=2.5', 'invalid_limit', 'limit'],
      ['cursor=', 'invalid_cursor', 'cursor'],
      ['cursor=not-a-cursor', 'invalid_cursor', 'cursor'],
      ['cursor=zzzzzzzzzzzzzzzzzzzz', 'invalid_cursor', 'cursor'],
    ]) {
      const res = await getJson(`${base}/v1/images/tasks?${query}`);
      assert.equal(res.status, 400, query);
      assertError(res.body, errorOf(code, param));
    }
  });

  test('cancels a queued task at once; a second cancel is 409; filters by status', async () => {
    const res = await postJson(`${base}/v1/images/tasks/${ids[1]}/cancel`, {});
    assert.equal(res.status, 200);
    assert.equal(res.body.task_id, ids[1]);
    assert.equal(res.body.status, 'canceled');
    assert.equal((await getJson(`${base}/v1/images/tasks/${ids[1]}`)).body.status, 'canceled');
    // The task behind it moved up.
    assert.equal((await getJson(`${base}/v1/images/tasks/${ids[2]}`)).body.queue_position, 1);

    const again = await request(`${base}/v1/images/tasks/${ids[1]}/cancel`, { method: 'POST' });
    assert.equal(again.status, 409);
    assertError(again.body, errorOf('task_finished', 'task_id', 'conflict_error'));

    const byStatus = async (q: string) => (await getJson(`${base}/v1/images/tasks?status=${q}`)).body.data.map((t: any) => t.task_id);
    assert.deepEqual(await byStatus('canceled'), [ids[1]]);
    assert.deepEqual(await byStatus('processing'), [ids[2], ids[0]]);
    assert.deepEqual(await byStatus('queued'), [ids[2], ids[0]]);
    assert.deepEqual(await byStatus('running'), []);
    assert.deepEqual(await byStatus('completed'), []);
    assert.deepEqual(await byStatus('canceled,processing'), [ids[2], ids[1], ids[0]]);
  });

  test('DELETE cancels too (an empty JSON body is fine)', async () => {
    const res = await request(`${base}/v1/images/tasks/${ids[0]}`, { method: 'DELETE', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'canceled');
    const again = await request(`${base}/v1/images/tasks/${ids[0]}`, { method: 'DELETE' });
    assert.equal(again.status, 409);
  });

  test('an unknown task is 404 task_not_found with status failed', async () => {
    for (const id of ['0123456789abcdef0123456789abcdef', 'nope']) {
      for (const res of [
        await postJson(`${base}/v1/images/tasks/${id}/cancel`, {}),
        await request(`${base}/v1/images/tasks/${id}`, { method: 'DELETE' }),
        await getJson(`${base}/v1/images/tasks/${id}?wait=1`),
      ]) {
        assert.equal(res.status, 404);
        assert.equal(res.body.status, 'failed');
        assertError({ error: res.body.error }, errorOf('task_not_found', 'task_id', 'not_found_error'));
      }
    }
  });

  test('?wait on a task that does not finish answers processing after the wait', async () => {
    const res = await getJson(`${base}/v1/images/tasks/${ids[2]}?wait=0.2`);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'processing');
    assert.equal(res.body.stage, 'queued');
  });

  test('?wait must be a number from 0 to 60', async () => {
    for (const wait of ['61', 'abc', '-1', '', '1e1']) {
      const res = await getJson(`${base}/v1/images/tasks/${ids[2]}?wait=${wait}`);
      assert.equal(res.status, 400, wait);
      assertError(res.body, errorOf('invalid_wait', 'wait'));
    }
    const zero = await getJson(`${base}/v1/images/tasks/${ids[2]}?wait=0`);
    assert.equal(zero.status, 200);
    assert.equal(zero.body.status, 'processing');
  });

  test('a long poll stops waiting when its client disconnects', async () => {
    const active = countSubscriptions(server);
    // node:http with its own socket: destroying it is exactly a client going away.
    const req = http.get(`${base}/v1/images/tasks/${ids[2]}?wait=30`, { agent: false });
    const closed = new Promise((resolve) => req.on('close', resolve));
    req.on('error', () => undefined);
    await until('the long poll to subscribe', () => active() === 1);
    req.destroy();
    await closed;
    await until('the subscription to be released', () => active() === 0);
  });
});

describe('running tasks', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startTestServer({ syntheticStepMs: 100 });
    base = server.url;
  });
  after(() => server.close());

  test('?wait answers as soon as the task completes', async () => {
    const id = await submit(base, 'quick', { num_inference_steps: 2 });
    const res = await getJson(`${base}/v1/images/tasks/${id}?wait=30`);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'completed');
    assert.equal(res.body.data.length, 1);
  });

  test('a running task stops within a step, frees the engine, and the next task runs', async () => {
    const total = 50; // 5 s of steps if it were not stopped
    const steps = new Map<string, number>();
    const off = server.queue.subscribe((e) => {
      if (e.type === 'progress') steps.set(e.taskId, e.progress!.step);
    });
    try {
      const slow = await submit(base, 'slow', { num_inference_steps: total });
      const next = await submit(base, 'next', { num_inference_steps: 1 });
      await until('the slow task to make progress', () => (steps.get(slow) ?? 0) >= 1);

      const res = await postJson(`${base}/v1/images/tasks/${slow}/cancel`, {});
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'canceled');
      const stoppedAt = steps.get(slow)!;
      assert.ok(stoppedAt < total, `stopped at step ${stoppedAt} of ${total}`);

      const done = await pollTask(base, next, 10_000);
      assert.equal(done.status, 'completed');
      assert.equal(steps.get(slow), stoppedAt, 'no step ran after the cancel');
      const again = await postJson(`${base}/v1/images/tasks/${next}/cancel`, {});
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /already finished \(status "completed"\)/);
    } finally {
      off();
    }
  });
});
