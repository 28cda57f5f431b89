/**
 * Real subprocesses killed with SIGKILL mid-run: every accepted task still completes
 * exactly once after a restart, and earlier outputs still download.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { spawnServer, tempDir } from '../helpers/server.js';

const readRows = (dir: string) => {
  const db = new Database(path.join(dir, 'zimage.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, state, attempts, result FROM tasks ORDER BY seq').all() as any[];
  } finally {
    db.close();
  }
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('SIGKILL with tasks queued and running: after restart all complete once, old outputs survive', async () => {
  const dataDir = tempDir();
  const first = await spawnServer({ ZIMAGE_DATA_DIR: dataDir, ZIMAGE_SYNTHETIC_STEP_MS: '60' });
  let url = first.url;
  const early = await postJson(`${url}/v1/images/async_generate`, { prompt: 'before the crash', size: '256x256' });
  const earlyDone = await pollTask(url, early.body.task_id);
  assert.equal(earlyDone.status, 'completed');

  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await postJson(`${url}/v1/images/async_generate`, { prompt: `task ${i}`, size: '256x256', n: 2 });
    assert.equal(res.status, 200);
    ids.push(res.body.task_id);
  }
  // Kill while the first is mid-denoising and the rest are queued.
  await waitFor('a running task', async () => {
    const r = await getJson(`${url}/v1/images/tasks/${ids[0]}`);
    return r.body.stage === 'running' && r.body.step >= 2 ? true : undefined;
  });
  first.child.kill('SIGKILL');
  assert.equal(await first.exited, 'SIGKILL');
  const atCrash = readRows(dataDir);
  assert.equal(atCrash.find((r) => r.id === ids[0]).state, 'running');

  const second = await spawnServer({ ZIMAGE_DATA_DIR: dataDir, ZIMAGE_SYNTHETIC_STEP_MS: '0' });
  url = second.url;
  try {
    for (const id of ids) {
      const done = await pollTask(url, id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.data.length, 2);
    }
    const rows = readRows(dataDir);
    assert.equal(rows.length, 7, 'nothing lost, nothing added');
    assert.deepEqual(rows.map((r) => r.state), Array(7).fill('completed'));
    // The task that was running ran again (attempt 2); every other ran exactly once.
    assert.deepEqual(rows.map((r) => r.attempts), [1, 2, 1, 1, 1, 1, 1]);
    // Exactly the completed outputs exist: no duplicate or half-written files.
    const files = fs.readdirSync(path.join(dataDir, 'outputs')).sort();
    const expected = rows.flatMap((r) => JSON.parse(r.result).outputs.map((o: any) => path.basename(o.file))).sort();
    assert.deepEqual(files, expected);
    const old = await fetch(earlyDone.data[0].url.replace(first.url, url));
    assert.equal(old.status, 200);
    assert.equal(old.headers.get('content-type'), 'image/png');
  } finally {
    second.child.kill('SIGKILL');
    await second.exited;
  }
});

test('SIGTERM drains gracefully: exits 0, a run past the grace period is handed back without spending an attempt', async () => {
  const dataDir = tempDir();
  const server = await spawnServer({ ZIMAGE_DATA_DIR: dataDir, ZIMAGE_SYNTHETIC_STEP_MS: '100', ZIMAGE_SHUTDOWN_GRACE_SECONDS: '0' });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await postJson(`${server.url}/v1/images/async_generate`, { prompt: `t${i}`, size: '256x256' })).body.task_id);
  await waitFor('a running task', async () => ((await getJson(`${server.url}/v1/images/tasks/${ids[0]}`)).body.stage === 'running' ? true : undefined));
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  assert.match(server.output(), /task handed back to the queue for shutdown/);
  assert.match(server.output(), /shutdown complete/);
  const rows = readRows(dataDir);
  assert.deepEqual(rows.map((r) => [r.state, r.attempts]), [['queued', 0], ['queued', 0], ['queued', 0]]);
  const again = await spawnServer({ ZIMAGE_DATA_DIR: dataDir });
  try {
    for (const id of ids) assert.equal((await pollTask(again.url, id)).status, 'completed');
    assert.deepEqual(readRows(dataDir).map((r) => r.attempts), [1, 1, 1]);
  } finally {
    again.child.kill('SIGKILL');
    await again.exited;
  }
});

test('a second server on the same data directory refuses to start with a clear message', async () => {
  const dataDir = tempDir();
  const one = await spawnServer({ ZIMAGE_DATA_DIR: dataDir });
  try {
    await assert.rejects(spawnServer({ ZIMAGE_DATA_DIR: dataDir }), /already using the data directory/);
  } finally {
    one.child.kill('SIGKILL');
    await one.exited;
  }
});
