import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { runMaintenance } from '../../src/tasks/maintenance.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

test('retention: an expired task answers failed/expired, its images and upload are deleted', async () => {
  const server = await startTestServer({ retentionHours: 1 });
  try {
    const gen = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'old', size: '256x256' });
    const png = await solidPng(64, 64, [1, 2, 3]);
    const edit = await request(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form({ prompt: 'e', size: '256x256' }, { image: { data: png } }) });
    const genDone = await pollTask(server.url, gen.body.task_id);
    await pollTask(server.url, edit.body.task_id);
    const files = () => ['outputs', 'uploads'].flatMap((d) => fs.readdirSync(path.join(server.dataDir, d)));
    assert.equal(files().length, 3);
    const deps = { queue: server.backend.housekeeping, storage: server.storage, log: pino({ level: 'silent' }), retentionMs: 3600_000 };

    assert.deepEqual(await runMaintenance(deps), { recovered: 0, expired: 0 }, 'nothing is expired before retention');
    assert.deepEqual(await runMaintenance({ ...deps, now: () => Date.now() + 3601_000 }), { recovered: 0, expired: 2 });

    assert.deepEqual(files(), []);
    const polled = await getJson(`${server.url}/v1/images/tasks/${gen.body.task_id}`);
    assert.equal(polled.status, 200);
    assert.equal(polled.body.status, 'failed');
    assert.equal(polled.body.error.code, 'expired');
    assert.match(polled.body.error.message, /ZIMAGE_RETENTION_HOURS/);
    assert.equal((await request(genDone.data[0].url)).status, 404);
  } finally {
    await server.close();
  }
});
