/** Start-up check of the fleet's Redis: an evicting maxmemory-policy is reported, noeviction is not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, evictionWarning } from '../../src/queue/bullmq/connection.js';
import { useFleetServices } from '../helpers/fleet.js';

const services = useFleetServices();

test('an evicting Redis gets a warning that names the setting; noeviction gets none', async () => {
  const redis = connect(services.redis.url, 'policy-test');
  try {
    assert.equal(await evictionWarning(redis), null);
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const warning = await evictionWarning(redis);
    assert.match(warning ?? '', /"allkeys-lru", not "noeviction"/);
    assert.match(warning ?? '', /maxmemory-policy noeviction/);
  } finally {
    redis.disconnect();
  }
});
