/**
 * Live previews in a fleet (real PostgreSQL and Redis): a worker's previews cross the Redis event
 * stream to an API node that runs no engine, reach its SSE streams and its poll answers, and are
 * gone there once the task ends. Nothing of them is written to Postgres.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import sharp from 'sharp';
import { ZImageClient, type TaskStreamEvent } from '../../src/client/index.js';
import { startFleet, useFleetServices, type TestFleet } from '../helpers/fleet.js';
import { getJson, postJson, request } from '../helpers/http.js';

const services = useFleetServices();

describe('fleet: previews from a worker reach an API node', () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await startFleet(services.postgres, services.redis, { apiNodes: 1, workers: 1, config: { syntheticStepMs: 40 } });
  });
  after(() => fleet?.close());

  test('SSE preview events and the poll pointer on the API node; gone after the end; the task row holds no preview', async () => {
    const api = fleet.api[0];
    assert.equal(api.engine, null, 'the API node runs no engine: previews come over Redis');
    const submitted = await postJson(`${api.url}/v1/images/async_generate`, { prompt: 'a harbour at night', size: '512x256', num_inference_steps: 12 });
    const id: string = submitted.body.task_id;
    const client = new ZImageClient({ url: api.url });
    const events: TaskStreamEvent[] = [];
    let pointerSeen = false;
    for await (const e of client.events(id)) {
      events.push(e);
      if (e.event === 'preview' && !pointerSeen) {
        const polled = await getJson(`${api.url}/v1/images/tasks/${id}`);
        if (polled.body.status === 'processing' && polled.body.preview) {
          pointerSeen = true;
          const image = await fetch(polled.body.preview.url);
          assert.equal(image.status, 200);
          const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
          assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 128]);
        }
      }
    }
    const previews = events.filter((e) => e.event === 'preview');
    assert.ok(previews.length >= 2, events.map((e) => e.event).join(' '));
    assert.ok(pointerSeen, 'the poll answer pointed at a preview while the task ran');
    for (const e of previews) {
      assert.equal(e.task.status, 'processing');
      const meta = await sharp(Buffer.from(e.task.preview!.b64_json!, 'base64')).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 128]);
    }
    assert.equal(events.at(-1)!.event, 'completed');
    assert.equal(events.at(-1)!.task.data?.length, 1);
    assert.equal((await request(`${api.url}/v1/images/tasks/${id}/preview`)).status, 404);
    assert.equal((await getJson(`${api.url}/v1/images/tasks/${id}`)).body.preview, undefined);

    const db = new pg.Client({ connectionString: fleet.config.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT row_to_json(t)::text AS row FROM tasks t WHERE id = $1', [id]);
      assert.equal(rows.length, 1);
      assert.ok(!/preview|UklGR/i.test(rows[0].row), 'no preview (nor WebP bytes) in the task row');
    } finally {
      await db.end();
    }
  });
});
