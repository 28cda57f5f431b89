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
  const [a, b, c] = pools.map((p) => new LeaderLock(p));
  try {
    assert.deepEqual([await a.isLeader(), await b.isLeader(), await a.isLeader()], [true, false, true]);
    await a.close();
    assert.equal(await b.isLeader(), true, 'taken over after a clean close');
    assert.equal(await c.isLeader(), false);
    // The leader's session dies (a crashed process, a network cut): its lock goes with it, and
    // whoever asks next takes it (b itself, on a new session, or c). Never both.
    const { rows } = await pools[2].query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_locks WHERE locktype = 'advisory' AND granted`);
    assert.equal(rows.length, 1);
    await new Promise((r) => setTimeout(r, 100));
    const leaders = [await b.isLeader(), await c.isLeader(), await b.isLeader(), await c.isLeader()];
    assert.equal(leaders.filter(Boolean).length, 2, `one of the two leads, steadily: ${leaders}`);
    assert.deepEqual(leaders.slice(0, 2), leaders.slice(2));
  } finally {
    // Locks first: a held lock keeps its client out of the pool, and pool.end() would wait for it.
    await Promise.all([a.close(), b.close(), c.close()]);
    await Promise.all(pools.map((p) => p.end()));
  }
});
