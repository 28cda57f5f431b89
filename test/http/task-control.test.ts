/**
 * Task control over real HTTP: listing with filters and cursor pages, cancel of queued and
 * running tasks, delete of finished ones with their files, and the ?wait=N long poll.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
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
      ['cursor=garbage', 'invalid_cursor', 'cursor'],
      ['cursor=1', 'invalid_cursor', 'cursor'],
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

  test('DELETE cancels a queued task (an empty JSON body is fine); a second DELETE deletes it, then it is 404', async () => {
    const res = await request(`${base}/v1/images/tasks/${ids[0]}`, { method: 'DELETE', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'canceled');
    const deleted = await request(`${base}/v1/images/tasks/${ids[0]}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body, { task_id: ids[0], object: 'task.deleted', deleted: true });
    assert.equal(await server.queue.get(ids[0]), undefined);
    for (const res of [
      await getJson(`${base}/v1/images/tasks/${ids[0]}`),
      await request(`${base}/v1/images/tasks/${ids[0]}`, { method: 'DELETE' }),
      await postJson(`${base}/v1/images/tasks/${ids[0]}/cancel`, {}),
    ]) {
      assert.equal(res.status, 404);
      assert.equal(res.body.status, 'failed');
      assertError({ error: res.body.error }, errorOf('task_not_found', 'task_id', 'not_found_error'));
    }
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

  /** The storage keys a task points at, as stored: its outputs and uploads. */
  const keysOf = async (id: string) => {
    const task = (await server.queue.get(id))!;
    return [...task.result!.outputs.map((o) => o.file), task.inputKey, task.maskKey].filter((k): k is string => k !== null);
  };
  const stored = async (keys: string[]) => (await Promise.all(keys.map((k) => server.storage.head(k)))).filter(Boolean).length;

  test('DELETE of a completed task deletes it and its images: the poll and the image URLs are 404', async () => {
    const id = await submit(base, 'to delete', { n: 2, num_inference_steps: 1 });
    const done = await pollTask(base, id, 10_000);
    assert.equal(done.status, 'completed');
    const urls: string[] = done.data.map((d: any) => d.url);
    for (const url of urls) assert.equal((await fetch(url)).status, 200, url);
    const keys = await keysOf(id);
    assert.equal(await stored(keys), 2);

    const res = await request(`${base}/v1/images/tasks/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { task_id: id, object: 'task.deleted', deleted: true });
    for (const url of urls) {
      const image = await getJson(url);
      assert.equal(image.status, 404, url);
      assert.equal(image.body.error.code, 'file_not_found');
    }
    assert.equal(await stored(keys), 0, 'the files are gone from storage');
    const polled = await getJson(`${base}/v1/images/tasks/${id}`);
    assert.equal(polled.status, 404);
    assertError({ error: polled.body.error }, errorOf('task_not_found', 'task_id', 'not_found_error'));
    assert.equal((await request(`${base}/v1/images/tasks/${id}`, { method: 'DELETE' })).status, 404);
  });

  test('DELETE of a finished edit deletes its uploaded image and mask too', async () => {
    const png = await solidPng(64, 64, [9, 90, 200]);
    const submitted = await request(`${base}/v1/images/async_edit`, {
      method: 'POST',
      body: form({ prompt: 'sad', size: '256x256', num_inference_steps: '1' }, { image: { data: png }, mask: { data: png } }),
    });
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
    const id = submitted.body.task_id as string;
    assert.equal((await pollTask(base, id, 10_000)).status, 'completed');
    const keys = await keysOf(id);
    assert.deepEqual(keys.map((k) => k.split('/')[0]), ['outputs', 'uploads', 'uploads']);
    assert.equal(await stored(keys), 3);

    const res = await request(`${base}/v1/images/tasks/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.object, 'task.deleted');
    assert.equal(await stored(keys), 0, 'outputs, image and mask are gone');
    assert.equal((await getJson(`${base}/v1/images/tasks/${id}`)).status, 404);
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
