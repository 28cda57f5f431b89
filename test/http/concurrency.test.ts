import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pollTask, postJson } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

test('100 concurrent submissions all complete, each exactly once', async () => {
  const server = await startTestServer();
  try {
    let starts = 0;
    const unsubscribe = server.queue.subscribe((e) => { if (e.type === 'started') starts++; });
    const submits = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      postJson(`${server.url}/v1/images/async_generate`, { prompt: `cat number ${i}`, size: '256x256', seed: i })));
    assert.deepEqual(submits.map((s) => s.status), Array(100).fill(200));
    const ids = submits.map((s) => s.body.task_id);
    assert.equal(new Set(ids).size, 100, 'every task id is distinct');
    const done = await Promise.all(ids.map((id) => pollTask(server.url, id, 60_000, 50)));
    assert.deepEqual(done.map((d) => d.status), Array(100).fill('completed'));
    assert.deepEqual(done.map((d) => d.data[0].seed), Array.from({ length: 100 }, (_, i) => i));
    assert.equal(new Set(done.map((d) => d.data[0].url)).size, 100);
    assert.equal(starts, 100, 'the engine ran each task once');
    const page = await server.queue.list({ limit: 200 });
    assert.equal(page.tasks.length, 100);
    assert.ok(page.tasks.every((t) => t.attempts === 1 && t.state === 'completed'));
    unsubscribe();
  } finally {
    await server.close();
  }
});
