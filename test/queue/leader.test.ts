/** Maintenance leadership: one Postgres advisory lock, one holder at a time, handed on when the holder goes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPool } from '../../src/queue/postgres/pool.js';
import { LeaderLock } from '../../src/queue/postgres/leader.js';
import { fleetConfig, useFleetServices } from '../helpers/fleet.js';

const services = useFleetServices();

test('one leader at a time; the lock passes on when the leader closes or its connection dies', async () => {
  const config = await fleetConfig(services.postgres, services.redis);
  const pools = [openPool(config.databaseUrl), openPool(config.databaseUrl), openPool(config.databaseUrl)];
  try {
    const [a, b, c] = pools.map((p) => new LeaderLock(p));
    assert.deepEqual([await a.isLeader(), await b.isLeader(), await a.isLeader()], [true, false, true]);
    await a.close();
    assert.equal(await b.isLeader(), true, 'taken over after a clean close');
    // The leader's session dies (a crashed process): its lock goes with it.
    await pools[2].query(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted`);
    assert.equal(await b.isLeader(), false, 'a dead session is noticed, not trusted');
    assert.equal(await c.isLeader(), true);
    await Promise.all([b.close(), c.close()]);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});
