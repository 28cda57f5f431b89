/**
 * The existing HTTP suites, run again with every server they start in fleet mode (an API node
 * with its worker, on real PostgreSQL and Redis; see startTestServer). Each suite runs in a
 * child `node --test` that must pass as a whole.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { useFleetServices } from '../helpers/fleet.js';
import { ROOT } from '../helpers/server.js';

const services = useFleetServices();

// Not here: contract (run against a fleet by contract-fleet.test.ts) and openai, whose tests read
// the embedded SQLite file directly (its synchronous route is tested in a fleet by fleet.test.ts).
const SUITES = ['task-control', 'task-events', 'idempotency', 'auth', 'bad-input', 'concurrency', 'index'];

test(`the HTTP suites pass against a fleet node: ${SUITES.join(', ')}`, { timeout: 300_000 }, async () => {
  const files = SUITES.map((s) => path.join(ROOT, 'dist/test/http', `${s}.test.js`));
  // Without NODE_TEST_CONTEXT: the child is a test run of its own, not a reporter for this one.
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    env: { ...env, ZIMAGE_TEST_FLEET_POSTGRES: services.postgres.url, ZIMAGE_TEST_FLEET_REDIS: services.redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out.slice(-20_000));
  const passed = Number(/ℹ pass (\d+)/.exec(out)?.[1] ?? 0);
  assert.ok(passed >= 60, `the suites ran (${passed} tests passed)`);
});
