/**
 * The task commands against a real server (synthetic steps slowed so tasks can be caught
 * queued and running): tasks, show, wait (with plain progress lines), cancel, delete, health,
 * models.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ApiResponseError, ZImageClient, type Task } from '../../src/client/index.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { runCli } from './helpers.js';

const STEP_MS = 60;

describe('zimage tasks / show / wait / cancel / delete / health', () => {
  let server: TestServer;
  let client: ZImageClient;
  let cwd: string;
  const cli = (args: string[]) => runCli(args, { url: server.url, cwd });
  const submit = async (steps: number, prompt = 'a task') =>
    (await client.generate({ prompt, num_inference_steps: steps, size: '256x256' })).task_id;
  /** Resolves once the task is running (its first step reported). */
  const untilRunning = (id: string) => new Promise<Task>((resolve, reject) => {
    const ac = new AbortController();
    client.wait(id, {
      signal: ac.signal,
      onUpdate: (t) => {
        if (t.stage === 'running') {
          ac.abort();
          resolve(t);
        }
      },
    }).then((t) => reject(new Error(`finished before running was seen: ${t.status}`)), () => undefined);
  });

  before(async () => {
    server = await startTestServer({ syntheticStepMs: STEP_MS }, { shutdownGraceMs: 0 });
    client = new ZImageClient({ url: server.url });
    cwd = tempDir('zimage-cli-');
  });
  after(async () => {
    await server.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  test('tasks lists running and queued tasks; show prints one; cancel stops both', async () => {
    const running = await submit(100, 'the long one');
    const queued = await submit(5, 'behind it');
    await untilRunning(running);

    const list = await cli(['tasks', '--status', 'processing']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0], /^TASK ID\s+STATUS\s+KIND\s+CREATED\s+PROMPT$/);
    assert.match(lines[1], new RegExp(`^${queued}\\s+queued \\(position 1\\)\\s+generate .* behind it$`));
    assert.match(lines[2], new RegExp(`^${running}\\s+running step \\d+/100\\s+generate .* the long one$`));

    const show = await cli(['show', running]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^task\\s+${running}$`, 'm'));
    assert.match(show.stdout, /^status\s+running step \d+\/100/m);
    assert.match(show.stdout, /^prompt\s+the long one$/m);
    assert.match(show.stdout, /^settings\s+256x256, n 1, seed \d+, 100 steps, png$/m);
    const json = await cli(['show', queued, '--json']);
    assert.equal(JSON.parse(json.stdout).queue_position, 0);

    const c1 = await cli(['cancel', queued]);
    assert.equal(c1.code, 0, c1.stderr);
    assert.match(c1.stderr, new RegExp(`Canceled task ${queued}`));
    const c2 = await cli(['cancel', running, '--json']);
    assert.equal(c2.code, 0, c2.stderr);
    assert.equal(JSON.parse(c2.stdout).status, 'canceled');
    assert.equal((await client.get(running)).status, 'canceled');
    assert.equal((await client.get(queued)).status, 'canceled');

    const again = await cli(['cancel', running]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already finished.*\[HTTP 409 task_finished\]/);
  });

  test('delete removes a finished task and its images; a processing one is only canceled (exit 1)', async () => {
    const done = await submit(1, 'to delete');
    const finished = await client.wait(done);
    const imageUrl = finished.data![0].url!;
    const del = await cli(['delete', done]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, new RegExp(`Deleted task ${done}`));
    await assert.rejects(client.get(done), (err: unknown) => err instanceof ApiResponseError && err.status === 404);
    await assert.rejects(client.download(imageUrl), (err: unknown) => err instanceof ApiResponseError && err.status === 404);
    const gone = await cli(['show', done]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /task_not_found/);

    const busy = await submit(100, 'still running');
    await untilRunning(busy);
    const d = await cli(['delete', busy]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /was still processing, so it was canceled instead of deleted/);
    assert.equal((await client.get(busy)).status, 'canceled');
    assert.equal((await cli(['delete', busy])).code, 0);
  });

  test('wait follows a queued task with plain lines (no terminal) and saves its image', async () => {
    const blocker = await submit(15, 'blocker');
    const id = await submit(10, 'waited for');
    const r = await cli(['wait', id, '-o', 'waited.png']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'waited.png\n');
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.includes('queued (position 1)'), r.stderr);
    assert.ok(lines.some((l) => /^running step \d+\/10$/.test(l)), r.stderr);
    assert.ok(lines.some((l) => /^completed in /.test(l)), r.stderr);
    assert.ok(!r.stderr.includes('\r'), 'no redraws without a terminal');
    assert.ok(lines.length < 12, `few lines, not one per redraw:\n${r.stderr}`);
    assert.equal((await sharp(path.join(cwd, 'waited.png')).metadata()).width, 256);
    assert.equal((await client.get(blocker)).status, 'completed');

    const unknown = await cli(['wait', '0123456789abcdef0123456789abcdef']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No task with id/);
  });

  test('a failed or canceled task exits 1 with the server\'s code and message', async () => {
    const id = await submit(100, 'canceled while waited for');
    const waiting = cli(['wait', id]);
    await untilRunning(id);
    await client.cancel(id);
    const r = await waiting;
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`task ${id} was canceled`));
    assert.equal(r.stdout, '');
  });

  test('tasks: --limit pages, --json, and the server judges --status', async () => {
    for (let i = 0; i < 3; i++) await client.wait(await submit(1, `listed ${i}`));
    const j = await cli(['tasks', '--limit', '2', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const page = JSON.parse(j.stdout);
    assert.equal(page.data.length, 2);
    assert.equal(page.has_more, true);
    const bad = await cli(['tasks', '--status', 'bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"status" must be one of processing, completed, failed, canceled/);
    const none = await cli(['tasks', '--status', 'failed']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /no failed tasks/);
  });

  test('health and models', async () => {
    const h = await cli(['health']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^server\s+http:\/\/127\.0\.0\.1:\d+: ready$/m);
    assert.match(h.stdout, /^engine\s+synthetic/m);
    assert.match(h.stdout, /^queue\s+sqlite: \d+ queued, \d+ running$/m);
    const hj = await cli(['health', '--json']);
    assert.equal(JSON.parse(hj.stdout).status, 'ok');
    const m = await cli(['models']);
    assert.equal(m.code, 0, m.stderr);
    assert.ok(m.stdout.trim().length > 0);
  });
});
