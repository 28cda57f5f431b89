/** The webhook store contract against PostgreSQL (a real server started for this file), with two pools as two nodes. */
import { after, before } from 'node:test';
import pg from 'pg';
import { PostgresWebhookStore } from '../../src/webhooks/postgresStore.js';
import { startPostgres, type Service } from '../helpers/services.js';
import { freshSchema, insertTask } from './pgDatabase.js';
import { webhookStoreContract } from './storeContract.js';

let postgres: Service;
before(async () => {
  postgres = await startPostgres();
});
after(async () => {
  await postgres?.close();
});

webhookStoreContract('postgres', async () => {
  const url = await freshSchema(postgres.url);
  const pools = [new pg.Pool({ connectionString: url, max: 4 }), new pg.Pool({ connectionString: url, max: 4 })];
  return {
    stores: [new PostgresWebhookStore(pools[0]!), new PostgresWebhookStore(pools[1]!)],
    addTask: (t) => insertTask(pools[0]!, t),
    async deleteTask(id) {
      await pools[0]!.query('DELETE FROM tasks WHERE id = $1', [id]);
    },
    async close() {
      await Promise.all(pools.map((p) => p.end()));
    },
  };
});
