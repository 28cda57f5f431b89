/** The store contract against the fleet backend: real PostgreSQL and Redis (BullMQ), started for this file. */
import { after, before } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startPostgres, startRedis, type Service } from '../helpers/services.js';
import { loopbackConfig } from '../helpers/server.js';
import { storeContract } from './contract.js';

let postgres: Service;
let redis: Service;
before(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
});
after(async () => {
  await Promise.all([postgres?.close(), redis?.close()]);
});

let n = 0;
storeContract({
  name: 'postgres + bullmq (fleet)',
  config: async (over = {}) => {
    // A fresh database and an empty Redis for each test.
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    const db = `contract_${process.pid}_${++n}`;
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    const r = new Redis(redis.url);
    await r.flushall();
    r.disconnect();
    const url = new URL(postgres.url);
    url.pathname = `/${db}`;
    return loopbackConfig({ databaseUrl: url.toString(), redisUrl: redis.url, ...over });
  },
});
