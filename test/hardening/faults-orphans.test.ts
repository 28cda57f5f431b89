/**
 * No disk leak: stored files that no task names, as a crash between writing files and
 * committing leaves them, are deleted by the maintenance pass; every file a task still names,
 * and every file young enough to be a write in progress, stays. Real server, real SQLite, real
 * files; the crash-like state is seeded on disk and in the database, then maintenance runs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { runMaintenance } from '../../src/tasks/maintenance.js';
import { form, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const log = pino({ level: 'silent' });
const TWO_HOURS_AGO = new Date(Date.now() - 2 * 3600_000);

/** Every stored task file, as keys. */
async function storedKeys(): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of ['outputs/', 'uploads/']) for await (const obj of server.storage.list(prefix)) keys.push(obj.key);
  return keys.sort();
}

/** Makes a stored file look written long ago (its sidecar too), as files left by a crash before the last restart are. */
function age(key: string): void {
  fs.utimesSync(path.join(server.dataDir, key), TWO_HOURS_AGO, TWO_HOURS_AGO);
  fs.utimesSync(path.join(server.dataDir, '.meta', key), TWO_HOURS_AGO, TWO_HOURS_AGO);
}

async function keysOfTask(id: string): Promise<string[]> {
  const task = (await server.queue.get(id))!;
  return [...(task.result?.outputs ?? []).map((o) => o.file), task.inputKey, task.maskKey].filter((k): k is string => !!k);
}

const maintain = (sweepOrphansNow: boolean) => runMaintenance({
  queue: server.backend.housekeeping, storage: server.storage, log, retentionMs: 30 * 24 * 3600_000, sweepOrphansNow,
});

before(async () => {
  server = await startTestServer({ orphanSweep: false });
});
after(() => server.close());

test('the orphan sweep deletes old files no task names, and keeps named and young ones', async () => {
  const png = await solidPng(64, 64, [10, 120, 30]);
  // Live tasks: a completed generate, a completed edit with its upload and mask.
  const generated = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'kept', size: '256x256', num_inference_steps: 1 });
  const edited = await request(`${server.url}/v1/images/async_edit`, {
    method: 'POST', body: form({ prompt: 'kept edit', size: '256x256', num_inference_steps: '1' }, { image: { data: png }, mask: { data: png } }),
  });
  for (const id of [generated.body.task_id, edited.body.task_id]) assert.equal((await pollTask(server.url, id)).status, 'completed');
  // A task whose row is gone but whose file delete never happened (the process died in between).
  const dropped = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'row gone', size: '256x256', num_inference_steps: 1 });
  assert.equal((await pollTask(server.url, dropped.body.task_id)).status, 'completed');
  const droppedKeys = await keysOfTask(dropped.body.task_id);
  server.backend.db!.prepare('DELETE FROM tasks WHERE id = ?').run(dropped.body.task_id);

  const kept = [...await keysOfTask(generated.body.task_id), ...await keysOfTask(edited.body.task_id)];
  // A worker that died between storing its image and committing; a submit that died between its upload and its insert.
  await server.storage.put('outputs/gen_crashed0000000000000000000000.png', png, 'image/png');
  await server.storage.put('uploads/crashedsubmit000000000000000000_image', png, 'image/png');
  // A write in progress right now: no task names it yet, and it is young.
  await server.storage.put('outputs/gen_inflight00000000000000000000000.png', png, 'image/png');
  const old = [...kept, ...droppedKeys, 'outputs/gen_crashed0000000000000000000000.png', 'uploads/crashedsubmit000000000000000000_image'];
  for (const key of old) age(key);

  await maintain(false);
  assert.equal((await storedKeys()).length, kept.length + droppedKeys.length + 3, 'nothing is swept unless the pass asks for it');

  await maintain(true);
  assert.deepEqual(await storedKeys(), [...kept, 'outputs/gen_inflight00000000000000000000000.png'].sort());
  for (const key of [...droppedKeys, 'outputs/gen_crashed0000000000000000000000.png']) {
    assert.equal(fs.existsSync(path.join(server.dataDir, '.meta', key)), false, `the sidecar of ${key} went with it`);
  }
  // The kept tasks still serve their images.
  for (const key of kept.filter((k) => k.startsWith('outputs/'))) assert.equal((await fetch(`${server.url}/${key}`)).status, 200);
});
