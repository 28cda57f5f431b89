/**
 * /metrics on a fleet (real PostgreSQL, Redis, two API nodes and a worker process in this
 * process): every API node shows the fleet's queue from the shared store, and the worker that
 * runs elsewhere in its worker gauges; task counters come from the events every node hears;
 * HTTP counts are each node's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pollTask, postJson } from '../helpers/http.js';
import { startFleet, useFleetServices, type TestFleet } from '../helpers/fleet.js';
import { eventually, sample, scrape } from './scrape.js';

// At file level, so that the services stop after the describe's fleet has closed.
const services = useFleetServices();

describe('GET /metrics in a fleet', () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet(services.postgres, services.redis, { apiNodes: 2, workers: 1 });
  });
  after(() => fleet?.close());

  test('each API node: the fleet\'s queue, workers and finished tasks; its own HTTP requests', async () => {
    const [a, b] = fleet.api;
    const res = await postJson(`${a.url}/v1/images/async_generate`, { prompt: 'fleet fox', size: '256x256' });
    assert.equal(res.status, 200);
    assert.equal((await pollTask(a.url, res.body.task_id)).status, 'completed');
    for (const node of [a, b]) {
      const text = await eventually(node.url, (t) => {
        assert.equal(sample(t, 'zimage_tasks_finished_total', { state: 'completed' }), 1);
        assert.equal(sample(t, 'zimage_workers', { state: 'idle' }), 1);
      });
      assert.equal(sample(text, 'zimage_tasks', { state: 'queued' }), 0);
      assert.match(text, /zimage_build_info\{version="[^"]+",node="v\d+[^"]*",backend="postgres",engine="none"\} 1/);
      assert.equal(sample(text, 'zimage_engine_ready'), 0, 'an API node runs no engine itself');
    }
    const own = (await scrape(a.url)).text;
    const other = (await scrape(b.url)).text;
    assert.equal(sample(own, 'zimage_http_requests_total', { method: 'POST', route: '/v1/images/async_generate', status: '200' }), 1);
    assert.equal(sample(other, 'zimage_http_requests_total', { method: 'POST', route: '/v1/images/async_generate', status: '200' }), undefined);
  });
});
