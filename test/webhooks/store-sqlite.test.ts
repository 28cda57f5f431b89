/** The webhook store contract against SQLite (the embedded database, migrated as the server does). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/queue/sqlite/open.js';
import { SqliteWebhookStore } from '../../src/webhooks/sqliteStore.js';
import { webhookStoreContract } from './storeContract.js';

webhookStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zimage-webhook-store-'));
  const db = openDatabase(path.join(dir, 'zimage.db'));
  const insert = db.prepare(
    `INSERT INTO tasks (id, kind, state, params, max_attempts, webhook_url, created_at, finished_at, expired_at)
     VALUES (@id, 'generate', @state, '{"prompt":"p"}', 3, @url, @now, @finished, @expired)`,
  );
  return {
    stores: [new SqliteWebhookStore(db)],
    async addTask({ id, state = 'completed', webhookUrl = `https://hooks.example/${id}`, expired = false }) {
      const now = Date.now();
      const final = state === 'completed' || state === 'failed' || state === 'canceled';
      insert.run({ id, state, url: webhookUrl, now, finished: final ? now : null, expired: expired ? now : null });
    },
    async deleteTask(id) {
      db.prepare('DELETE FROM tasks WHERE id = ?').run(id);
    },
    async close() {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('embedded start-up: deliveries leased by a process that died are due again at once', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zimage-webhook-lease-'));
  const file = path.join(dir, 'zimage.db');
  const db = openDatabase(file);
  try {
    db.prepare(`INSERT INTO tasks (id, kind, state, params, max_attempts, webhook_url, created_at, finished_at)
      VALUES ('t1', 'generate', 'completed', '{"prompt":"p"}', 3, 'https://hooks.example/t1', 1, 1)`).run();
    const store = new SqliteWebhookStore(db);
    await store.arm('t1', 'https://hooks.example/t1', 1000);
    const [claimed] = await store.claimDue(1000, 10, 60_000); // then the process dies mid-attempt
    assert.ok(claimed);
    assert.deepEqual(await store.claimDue(2000, 10, 60_000), [], 'leased: not due before the lease runs out');
    const restarted = new SqliteWebhookStore(db);
    assert.equal(restarted.releaseLeases(3000), 1);
    const [again] = await restarted.claimDue(3000, 10, 60_000);
    assert.equal(again?.taskId, 't1');
    assert.equal(await restarted.record(claimed.id, claimed.leaseToken, { at: 3000, statusCode: 200, error: null, durationMs: 1 },
      { status: 'delivered', nextAttemptAt: null }, 3000), false, 'the dead process\'s lease token is refused');
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
