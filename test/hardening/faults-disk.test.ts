/**
 * A full disk, on a real (small, tmpfs) file system filled to the last byte: submits answer 507
 * `storage_full` with Retry-After, reads and /health keep answering (and /health says so), a
 * running task whose images find no room is handed back with its attempt kept instead of
 * failing or staying `running`, and everything resumes by itself once space returns.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import type { Engine, EngineContext, Job, RawImage } from '../../src/interfaces.js';
import { form, getJson, pollTask, postJson, request, solidPng } from '../helpers/http.js';
import { startTestServer, tempDir } from '../helpers/server.js';
import { mountTmpfs, type Tmpfs } from './tmpfs.js';

/** The synthetic engine, except that a prompt starting "held" waits for open() before it runs. */
class GatedEngine implements Engine {
  readonly name = 'gated';
  readonly synthetic = true;
  private readonly inner = new SyntheticEngine({ stepMs: 0 });
  private release!: () => void;
  private readonly gate = new Promise<void>((resolve) => { this.release = resolve; });
  state() { return this.inner.state(); }
  async start() {}
  defaultSteps() { return 8; }
  async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    if (job.prompt.startsWith('held')) await this.gate;
    return this.inner.run(job, ctx);
  }
  open() { this.release(); }
  async close() {}
}

/** Resolves once check() is true, polling; fails with what it last saw after timeoutMs. */
async function until<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const health = async (url: string) => (await getJson(`${url}/health`)).body;
const generate = (url: string, prompt: string) => postJson(`${url}/v1/images/async_generate`, { prompt, size: '256x256', num_inference_steps: 1 });

function assertStorageFull(res: { status: number; headers: Headers; body: any }) {
  assert.equal(res.status, 507, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'storage_full');
  assert.equal(res.body.error.type, 'unavailable_error');
  assert.match(res.body.error.message, /storage is full.*already accepted.*Retry-After/s);
  assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After says when to come back');
}

const storageFs = mountTmpfs(8);
const dataFs = mountTmpfs(24);
after(() => {
  for (const fs of [storageFs, dataFs]) if ('dir' in fs) fs.unmount();
});

describe('a full storage directory (the database elsewhere)', { skip: 'skip' in storageFs ? storageFs.skip : false }, () => {
  test('a running task is handed back, submits get 507, reads and health work, and it all resumes when space returns', async () => {
    const disk = storageFs as Tmpfs;
    const engine = new GatedEngine();
    const server = await startTestServer({ dataDir: tempDir(), storage: disk.dir, minFreeMb: 1 }, { engine });
    try {
      const before = await generate(server.url, 'before');
      const done = await pollTask(server.url, before.body.task_id);
      assert.equal(done.status, 'completed');
      const held = (await generate(server.url, 'held until the disk is full')).body.task_id as string;
      await until('the held task runs', () => server.queue.get(held), (t) => t?.state === 'running');

      disk.fill();
      const full = await until('/health sees the full disk', () => health(server.url), (h) => h.storage.full === true);
      assert.equal(full.status, 'ok');
      assert.match(full.storage.message, /storage directory has 0\.0 MiB free.*507/);
      assertStorageFull(await generate(server.url, 'refused'));
      // Reads keep working: the finished task, its image, the list.
      assert.equal((await getJson(`${server.url}/v1/images/tasks/${before.body.task_id}`)).body.status, 'completed');
      assert.equal((await fetch(done.data[0].url)).status, 200);
      assert.equal((await getJson(`${server.url}/v1/images/tasks`)).status, 200);

      engine.open(); // the engine finishes; its image finds no room
      const handedBack = await until('the task is handed back', () => server.queue.get(held), (t) => t?.state === 'queued');
      assert.equal(handedBack?.attempts, 0, 'the attempt is refunded');
      const [row] = server.backend.db!.prepare('SELECT deferrals FROM tasks WHERE id = ?').all(held) as { deferrals: number }[];
      assert.equal(row.deferrals, 1);
      assert.equal((await getJson(`${server.url}/v1/images/tasks/${held}`)).body.status, 'processing');
      await until('the worker waits for space', () => health(server.url), (h) => h.workers[0]?.state === 'waiting_for_storage');

      disk.free(); // space returns: no restart, no operator action
      const finished = await pollTask(server.url, held);
      assert.equal(finished.status, 'completed', JSON.stringify(finished));
      assert.equal((await server.queue.get(held))?.attempts, 1, 'one attempt spent in all');
      assert.equal((await fetch(finished.data[0].url)).status, 200);
      assert.equal((await health(server.url)).storage.full, false);
      const after = await generate(server.url, 'after');
      assert.equal(after.status, 200, JSON.stringify(after.body));
      assert.equal((await pollTask(server.url, after.body.task_id)).status, 'completed');
    } finally {
      engine.open();
      await server.close();
    }
  });
});

describe('a full data directory (database and images on it)', { skip: 'skip' in dataFs ? dataFs.skip : false }, () => {
  test('submits get 507 whether the check or the write sees it, reads and health work, and submits resume when space returns', async () => {
    const disk = dataFs as Tmpfs;
    const server = await startTestServer({ dataDir: disk.dir, minFreeMb: 0 });
    try {
      const first = await generate(server.url, 'first');
      const done = await pollTask(server.url, first.body.task_id);
      assert.equal(done.status, 'completed');

      disk.fill();
      assertStorageFull(await generate(server.url, 'refused by the check'));
      // An idempotent submit skips the early check (a retry must find its task); its upload then finds no room.
      const png = await solidPng(64, 64, [200, 10, 10]);
      assertStorageFull(await request(`${server.url}/v1/images/async_edit`, {
        method: 'POST', headers: { 'idempotency-key': 'edit-on-a-full-disk' },
        body: form({ prompt: 'refused by the write', size: '256x256' }, { image: { data: png } }),
      }));
      assert.equal((await getJson(`${server.url}/v1/images/tasks/${first.body.task_id}`)).body.status, 'completed');
      assert.equal((await fetch(done.data[0].url)).status, 200);
      const h = await health(server.url);
      assert.deepEqual([h.status, h.storage.full, h.storage.free_bytes], ['ok', true, 0]);

      disk.free();
      await until('/health sees the space return', () => health(server.url), (v) => v.storage.full === false);
      const again = await generate(server.url, 'after');
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal((await pollTask(server.url, again.body.task_id)).status, 'completed');
    } finally {
      await server.close();
    }
  });
});
