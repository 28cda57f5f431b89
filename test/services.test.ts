/**
 * The test-service helpers themselves: a real PostgreSQL and Redis start, answer, restart
 * (Redis, flushed) and go away with their directories. Fails, never skips, when a binary is
 * missing, so CI proves the fleet tests ran against real servers.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ensureServicesAvailable, startPostgres, startRedis } from './helpers/services.js';

const refused = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('connect', () => { socket.destroy(); resolve(false); });
  socket.on('error', () => resolve(true));
});

test('PostgreSQL and redis-server are installed', () => {
  ensureServicesAvailable();
});

test('startPostgres: a fresh server answers SQL, and close stops it', async () => {
  const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
  assert.notEqual(a.url, b.url);
  assert.match(a.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  const client = new pg.Client({ connectionString: a.url });
  await client.connect();
  assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  await client.query('CREATE TABLE t (x INT)');
  await client.end();
  // A separate cluster: b has no table t.
  const other = new pg.Client({ connectionString: b.url });
  await other.connect();
  assert.equal((await other.query(`SELECT to_regclass('t') AS t`)).rows[0].t, null);
  await other.end();
  await Promise.all([a.close(), b.close()]);
  assert.equal(await refused(Number(new URL(a.url).port)), true);
});

test('startRedis: PING, SET/GET; restart flushes and keeps the port; close stops it', async () => {
  const redis = await startRedis();
  assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  try {
    assert.equal(await client.ping(), 'PONG');
    assert.equal(await client.set('k', 'v'), 'OK');
    assert.equal(await client.get('k'), 'v');
    assert.equal(await client.config('GET', 'maxmemory-policy').then((r) => (r as string[])[1]), 'noeviction');
    await redis.restart();
    // The same client reconnects to the same URL, and finds the data gone.
    assert.equal(await client.get('k'), null);
    assert.equal(await client.ping(), 'PONG');
  } finally {
    client.disconnect();
    await redis.close();
  }
  assert.equal(await refused(redis.port), true);
});

test('startRedis({ persistence: true }): restart({ flush: false }) keeps the data', async () => {
  const redis = await startRedis({ persistence: true });
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  try {
    await client.set('k', 'kept');
    await redis.restart({ flush: false });
    assert.equal(await client.get('k'), 'kept');
  } finally {
    client.disconnect();
    await redis.close();
  }
});
