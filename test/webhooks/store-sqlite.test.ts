/** The webhook store contract against SQLite (the embedded database, migrated as the server does). */
import fs from 'node:fs';
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
