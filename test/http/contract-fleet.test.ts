/** The skill contract against a fleet: an API node (serve --no-worker) and a worker, on real Postgres and Redis. */
import { after, before } from 'node:test';
import { startFleet } from '../helpers/fleet.js';
import { startPostgres, startRedis, type Service } from '../helpers/services.js';
import { skillContract } from './skillContract.js';

let postgres: Service;
let redis: Service;
before(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
});
after(async () => {
  await Promise.all([postgres?.close(), redis?.close()]);
});

skillContract('fleet', 'postgres', async (over) => {
  const fleet = await startFleet(postgres, redis, { config: over });
  return { url: fleet.api[0].url, queue: fleet.api[0].queue, close: () => fleet.close() };
});
