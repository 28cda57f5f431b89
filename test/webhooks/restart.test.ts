/**
 * Deliveries survive the server: a pending delivery resumes after SIGKILL and arrives once,
 * and a task that became final without its delivery being armed (a crash in between) is
 * found and delivered on the next start.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { spawnServer, startTestServer, tempDir, type SpawnedServer } from '../helpers/server.js';
import { freePort, startReceiver, verifyStandardWebhook, waitForWebhook, type Receiver } from './receiver.js';

test('a delivery pending when the server is SIGKILLed arrives once after a restart', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir();
  const port = await freePort(); // the receiver is down: nothing listens here yet
  const env = { ZIMAGE_DATA_DIR: dataDir, ZIMAGE_WEBHOOK_ALLOW_PRIVATE: 'true' };
  let first: SpawnedServer | undefined;
  let second: SpawnedServer | undefined;
  let receiver: Receiver | undefined;
  t.after(async () => {
    for (const s of [first, second]) if (s && s.child.exitCode === null && s.child.signalCode === null) { s.child.kill('SIGKILL'); await s.exited; }
    await receiver?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  first = await spawnServer(env);
  const hook = `http://127.0.0.1:${port}/after-restart`;
  const submit = await postJson(`${first.url}/v1/images/async_generate`, { prompt: 'a lighthouse', size: '256x256', webhook_url: hook });
  assert.equal(submit.status, 200, JSON.stringify(submit.body));
  const id = submit.body.task_id;
  assert.equal((await pollTask(first.url, id)).status, 'completed');
  const refused = await waitForWebhook(first.url, id, (w) => w?.attempts.length === 1);
  assert.equal(refused.webhook.status, 'pending');
  assert.equal(refused.webhook.attempts[0].status_code, null);
  assert.match(refused.webhook.attempts[0].error, /ECONNREFUSED/);
  assert.equal(typeof refused.webhook.next_attempt_at, 'number');

  first.child.kill('SIGKILL');
  await first.exited;
  receiver = await startReceiver([], port);
  second = await spawnServer(env);

  // The retry is due about 5 s after the first attempt (backoff), then it is sent by the new process.
  const [req] = await receiver.waitFor(1, 30_000);
  const delivered = await waitForWebhook(second.url, id);
  assert.equal(delivered.webhook.status, 'delivered');
  assert.deepEqual(delivered.webhook.attempts.map((a: any) => a.status_code), [null, 200]);
  // Signed with the secret the first process generated into the data directory, kept across the restart.
  const secret = fs.readFileSync(path.join(dataDir, 'webhook-secret'), 'utf8').trim();
  assert.ok(verifyStandardWebhook(req, secret));
  const body = JSON.parse(req.body);
  assert.equal(body.task_id, id);
  assert.equal(body.status, 'completed');
  // Image links use the base URL of the request that submitted the task.
  assert.ok(body.data[0].url.startsWith(`${first.url}/outputs/`), body.data[0].url);
  assert.equal(receiver.received.length, 1);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  assert.equal(receiver.received.length, 1);
});

test('final tasks whose delivery was never armed (crash in between) are delivered on the next start', async (t) => {
  const receiver = await startReceiver();
  const dataDir = tempDir();
  t.after(async () => {
    await receiver.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const config = { dataDir, worker: false, webhookAllowPrivate: true };
  const before = await startTestServer(config);
  const ids: string[] = [];
  for (const name of ['no-row', 'waiting-row']) {
    const res = await postJson(`${before.url}/v1/images/async_generate`, { prompt: name, size: '256x256', webhook_url: `${receiver.url}/${name}` });
    assert.equal(res.status, 200);
    ids.push(res.body.task_id);
  }
  await before.close();

  // What a crash right after the final write leaves behind: final tasks, deliveries not armed
  // (one never recorded at all, one still waiting for its task).
  const db = new Database(path.join(dataDir, 'zimage.db'));
  db.prepare(`UPDATE tasks SET state = 'canceled', finished_at = ? WHERE id IN (?, ?)`).run(Date.now(), ids[0], ids[1]);
  db.prepare('DELETE FROM webhook_deliveries WHERE task_id = ?').run(ids[0]);
  assert.deepEqual(db.prepare('SELECT status FROM webhook_deliveries').all(), [{ status: 'waiting' }]);
  db.close();

  const after = await startTestServer(config);
  t.after(() => after.close());
  const got = await receiver.waitFor(2);
  assert.deepEqual(got.map((r) => r.path).sort(), ['/no-row', '/waiting-row']);
  for (const r of got) assert.equal(JSON.parse(r.body).status, 'canceled');
  for (const id of ids) {
    const polled = await waitForWebhook(after.url, id);
    assert.equal(polled.webhook.status, 'delivered');
    assert.equal(polled.webhook.attempts.length, 1);
  }
  assert.equal((await getJson(`${after.url}/v1/images/tasks/${ids[0]}`)).body.status, 'canceled');
  assert.equal(receiver.received.length, 2);
  await after.close();
});
