import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getJson } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

test('GET / points to the skill document, docs, OpenAPI and health, each of which answers', async (t) => {
  const server = await startTestServer({ apiKeys: 'alice:secret-key-1' });
  t.after(() => server.close());
  const res = await getJson(`${server.url}/`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.engine, { name: 'synthetic', synthetic: true, state: 'ready' });
  assert.equal(res.body.links.skill, `${server.url}/SKILL.md`);
  for (const key of ['skill', 'docs', 'openapi', 'health']) {
    const linked = await fetch(res.body.links[key]);
    assert.equal(linked.status, 200, key);
  }
});
