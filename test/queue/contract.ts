/**
 * One contract for the task store and the work queue, run against every backend: the
 * embedded SQLite queue and the fleet's Postgres + BullMQ (contract-*.test.ts). Crashes are
 * simulated by seeding rows with SQL (the same statements work on both), then the stored
 * rows are asserted.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Config } from '../../src/config.js';
import { IdempotencyConflictError, LostClaimError, OwnerQueueFullError, QueueFullError } from '../../src/errors.js';
import type { Claim, NewTask, TaskEvent, WorkQueue } from '../../src/interfaces.js';
import { openBackend, type Backend } from '../../src/queue/index.js';
import { loopbackConfig } from '../helpers/server.js';

const params = { prompt: 'p', n: 1, width: 256, height: 256, seed: 1, output_format: 'png', response_format: 'url' } as const;
const newTask = (over: Partial<NewTask> = {}): NewTask => ({ kind: 'generate', params: { ...params }, ...over });
const result = { outputs: [], engine: 'x', synthetic: true };

export interface BackendFactory {
  name: string;
  /** A fresh, empty backend configuration (own database / data directory). */
  config(over?: Partial<Config>): Promise<Config>;
}

interface Row { id: string; state: string; attempts: number; claim_token: string | null }

async function sql(backend: Backend, statement: string): Promise<Row[]> {
  if (backend.db) return /^\s*select/i.test(statement) ? backend.db.prepare(statement).all() as Row[] : (backend.db.exec(statement), []);
  return (await backend.pool!.query(statement)).rows as Row[];
}

/** Resolves when the signal fires, or rejects after ms. */
function fired(signal: AbortSignal, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => reject(new Error(`the claim signal did not fire within ${ms} ms`)), ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

export function storeContract(factory: BackendFactory): void {
  describe(`task store and work queue contract: ${factory.name}`, () => {
    let backend: Backend;
    let work: WorkQueue;
    const rows = () => sql(backend, 'SELECT id, state, attempts, claim_token FROM tasks ORDER BY seq');
    /**
     * Claims with retries for a few seconds: in a fleet, a ticket taken back from a worker
     * whose lease was cut short by the test may wait for BullMQ's stalled check (≤ the lease).
     */
    const claimSoon = async (worker: string, until: () => Promise<boolean> = async () => false): Promise<Claim | undefined> => {
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline) {
        const claim = await work.claim(worker);
        if (claim || await until()) return claim;
        await new Promise((r) => setTimeout(r, 50));
      }
      return undefined;
    };
    const claimOne = async (worker = 'w1'): Promise<Claim> => {
      const claim = await work.claim(worker);
      assert.ok(claim, 'a task was claimable');
      return claim;
    };

    beforeEach(async () => {
      backend = await openBackend(await factory.config({ leaseSeconds: 2 }), pino({ level: 'silent' }));
      work = await backend.workQueue();
    });
    afterEach(() => backend.close());

    test('enqueue commits before resolving; claims are FIFO and count the attempt', async () => {
      const a = (await backend.store.enqueue(newTask())).task;
      const b = (await backend.store.enqueue(newTask())).task;
      assert.deepEqual((await rows()).map((r) => [r.id, r.state, Number(r.attempts)]), [[a.id, 'queued', 0], [b.id, 'queued', 0]]);
      assert.equal(await backend.store.position(a.id), 0);
      assert.equal(await backend.store.position(b.id), 1);
      const first = await claimOne();
      assert.equal(first.task.id, a.id);
      assert.equal(first.task.attempts, 1);
      assert.equal(await backend.store.position(b.id), 0);
      assert.equal((await claimOne('w2')).task.id, b.id);
      assert.equal(await work.claim('w3'), undefined);
      assert.deepEqual(await backend.store.stats(), { queued: 0, running: 2 });
    });

    test('idempotency keys return the first task; another request under the same key is refused', async () => {
      const first = await backend.store.enqueue(newTask({ owner: 'a', idempotencyKey: 'k', requestHash: 'h1' }));
      const again = await backend.store.enqueue(newTask({ owner: 'a', idempotencyKey: 'k', requestHash: 'h1' }));
      assert.deepEqual([first.created, again.created, again.task.id], [true, false, first.task.id]);
      await assert.rejects(backend.store.enqueue(newTask({ owner: 'a', idempotencyKey: 'k', requestHash: 'h2' })), IdempotencyConflictError);
      const otherOwner = await backend.store.enqueue(newTask({ owner: 'b', idempotencyKey: 'k', requestHash: 'h2' }));
      assert.equal(otherOwner.created, true);
      assert.equal((await rows()).length, 2);
    });

    test('admission is checked with the insert: concurrent submits never overshoot maxQueued', async () => {
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => backend.store.enqueue(newTask(), { maxQueued: 5 })));
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 5);
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof QueueFullError);
      assert.equal((await rows()).length, 5);
    });

    test('a per-owner limit counts only that owner\'s queued tasks, in the same transaction; replays still answer', async () => {
      const opts = { maxQueued: 100, maxQueuedPerOwner: 3 };
      const flood = await Promise.allSettled(Array.from({ length: 10 }, () => backend.store.enqueue(newTask({ owner: 'a' }), opts)));
      const accepted = flood.filter((o) => o.status === 'fulfilled');
      assert.equal(accepted.length, 3, 'never overshoots');
      for (const o of flood) {
        if (o.status === 'rejected') assert.ok(o.reason instanceof OwnerQueueFullError && o.reason.owner === 'a' && o.reason.queued === 3, String(o.reason));
      }
      assert.equal((await backend.store.enqueue(newTask({ owner: 'b' }), opts)).created, true, 'another owner is not affected');
      // A running task no longer counts as queued: owner a may queue one more.
      await claimOne();
      assert.equal((await backend.store.enqueue(newTask({ owner: 'a', idempotencyKey: 'k1', requestHash: 'h' }), opts)).created, true);
      await assert.rejects(backend.store.enqueue(newTask({ owner: 'a' }), opts), OwnerQueueFullError);
      const replay = await backend.store.enqueue(newTask({ owner: 'a', idempotencyKey: 'k1', requestHash: 'h' }), opts);
      assert.equal(replay.created, false, 'a repeated idempotency key finds its task even at the limit');
      assert.equal((await rows()).length, 5);
    });

    test('every worker write is fenced by its claim token', async () => {
      await backend.store.enqueue(newTask());
      const claim = await claimOne();
      const stale: Claim = { ...claim, token: 'not-the-token' };
      await assert.rejects(work.complete(stale, result), LostClaimError);
      await assert.rejects(work.progress(stale, { step: 1, total: 2 }), LostClaimError);
      await assert.rejects(work.heartbeat(stale), LostClaimError);
      assert.equal((await rows())[0].state, 'running');
      await work.progress(claim, { step: 1, total: 2 });
      assert.deepEqual((await backend.store.get(claim.task.id))?.progress, { step: 1, total: 2 });
      await work.complete(claim, result);
      assert.equal((await rows())[0].state, 'completed');
      await assert.rejects(work.complete(claim, result), LostClaimError, 'the token died with the first final write');
    });

    test('a dead worker\'s task is recovered once its lease runs out, then fails when attempts are spent', async () => {
      await backend.store.enqueue(newTask({ maxAttempts: 2 }));
      for (let attempt = 1; attempt <= 2; attempt++) {
        const claim = (await claimSoon(`w${attempt}`))!;
        assert.ok(claim);
        assert.equal(claim.task.attempts, attempt);
        assert.equal(await backend.housekeeping.recover(), 0, 'the lease is still live');
        await sql(backend, `UPDATE tasks SET lease_expires_at = 1 WHERE state = 'running'`); // the worker died long ago
        assert.equal(await backend.housekeeping.recover(), 1);
        assert.deepEqual((await rows()).map((r) => [r.state, r.claim_token]), [['queued', null]]);
        await backend.reconcile();
        await assert.rejects(work.heartbeat(claim), LostClaimError, 'the dead worker\'s token is refused');
      }
      assert.equal(await claimSoon('w3', async () => (await rows())[0].state === 'failed'), undefined);
      const [row] = await rows();
      assert.equal(row.state, 'failed');
      assert.equal((await backend.store.get(row.id))?.error?.code, 'attempts_exhausted');
    });

    test('release hands the task back without spending an attempt; fail retries only when asked and allowed', async () => {
      await backend.store.enqueue(newTask({ maxAttempts: 2 }));
      await work.release(await claimOne());
      assert.deepEqual((await rows()).map((r) => [r.state, Number(r.attempts)]), [['queued', 0]]);
      const retried = await claimOne();
      assert.equal(await work.fail(retried, { code: 'oom', message: 'm', retryable: true }, { retry: true }), 'queued');
      assert.deepEqual((await rows()).map((r) => [r.state, Number(r.attempts)]), [['queued', 1]]);
      const last = await claimOne();
      assert.equal(last.task.attempts, 2);
      assert.equal(await work.fail(last, { code: 'oom', message: 'm', retryable: true }, { retry: true }), 'failed', 'no attempts left');
      assert.equal((await backend.store.get(last.task.id))?.error?.code, 'oom');
    });

    test('cancel: a queued task at once; a running one through its claim signal, then finishCanceled', async () => {
      const queued = (await backend.store.enqueue(newTask())).task;
      assert.equal((await backend.store.cancel(queued.id))?.state, 'canceled');
      const running = (await backend.store.enqueue(newTask())).task;
      const claim = await claimOne();
      assert.equal(claim.task.id, running.id);
      assert.equal((await backend.store.cancel(running.id))?.cancelRequested, true);
      await fired(claim.signal);
      assert.equal(claim.abortReason(), 'cancel');
      await work.finishCanceled(claim);
      assert.deepEqual((await rows()).map((r) => r.state), ['canceled', 'canceled']);
      assert.equal(await work.claim('w2'), undefined, 'canceled tasks are never claimed');
    });

    test('the fenced progress write returns the cancel flag: a missed cancel event still stops the run', async () => {
      await backend.store.enqueue(newTask());
      const claim = await claimOne();
      await sql(backend, 'UPDATE tasks SET cancel_requested = TRUE'); // flag set, no event sent
      assert.equal(claim.signal.aborted, false);
      await work.progress(claim, { step: 1, total: 8 });
      assert.equal(claim.signal.aborted, true);
      assert.equal(claim.abortReason(), 'cancel');
    });

    test('release of a task whose cancel was asked finishes it canceled', async () => {
      const t = (await backend.store.enqueue(newTask())).task;
      const claim = await claimOne();
      await backend.store.cancel(t.id);
      await work.release(claim);
      assert.equal((await backend.store.get(t.id))?.state, 'canceled');
    });

    test('a lost lease fires the claim signal as lost_claim', async () => {
      await backend.store.enqueue(newTask());
      const claim = await claimOne();
      await sql(backend, `UPDATE tasks SET lease_expires_at = 1 WHERE state = 'running'`);
      await backend.housekeeping.recover();
      await assert.rejects(work.progress(claim, { step: 1, total: 8 }), LostClaimError);
      assert.equal(claim.signal.aborted, true);
      assert.equal(claim.abortReason(), 'lost_claim');
    });

    test('retention leaves a tombstone without the prompt and returns the files to delete', async () => {
      const t = (await backend.store.enqueue(newTask({ kind: 'edit', inputKey: 'uploads/x_image' }))).task;
      const claim = await claimOne();
      await work.complete(claim, { ...result, outputs: [{ file: 'outputs/gen_a.png', seed: 1, width: 1, height: 1, format: 'png', bytes: 1 }] });
      assert.deepEqual(await backend.housekeeping.expireFinished(Date.now() - 3600_000), { count: 0, keys: [] });
      const batch = await backend.housekeeping.expireFinished(Date.now() + 1000);
      assert.equal(batch.count, 1);
      assert.deepEqual(batch.keys.sort(), ['outputs/gen_a.png', 'uploads/x_image']);
      const tomb = await backend.store.get(t.id);
      assert.equal(tomb?.state, 'failed');
      assert.equal(tomb?.error?.code, 'expired');
      assert.equal(tomb?.params.prompt, undefined);
      assert.deepEqual(await backend.housekeeping.expireFinished(Date.now() + 1000), { count: 0, keys: [] });
    });

    test('remove deletes a finished task with its webhook delivery and returns its files; a queued or running one stays', async () => {
      const t = (await backend.store.enqueue(newTask({
        kind: 'edit', inputKey: 'uploads/x_image', maskKey: 'uploads/x_mask', webhookUrl: 'https://example.com/hook',
      }))).task;
      const claim = await claimOne();
      assert.equal(await backend.store.remove(t.id), undefined, 'running: not removed');
      assert.equal((await rows())[0].state, 'running');
      await work.complete(claim, { ...result, outputs: [{ file: 'outputs/gen_a.png', seed: 1, width: 1, height: 1, format: 'png', bytes: 1 }] });
      const queued = (await backend.store.enqueue(newTask())).task;
      assert.equal(await backend.store.remove(queued.id), undefined, 'queued: not removed');
      assert.equal(await backend.store.remove('0'.repeat(32)), undefined, 'unknown');
      await sql(backend, `INSERT INTO webhook_deliveries (id, task_id, url, status, created_at, updated_at)
        VALUES ('d1', '${t.id}', 'https://example.com/hook', 'delivered', 1, 1)`);

      const removed = await backend.store.remove(t.id);
      assert.deepEqual(removed?.keys.sort(), ['outputs/gen_a.png', 'uploads/x_image', 'uploads/x_mask']);
      assert.equal(await backend.store.get(t.id), undefined);
      assert.deepEqual((await rows()).map((r) => [r.id, r.state]), [[queued.id, 'queued']]);
      assert.deepEqual(await sql(backend, 'SELECT task_id AS id FROM webhook_deliveries'), [], 'the delivery went with its task');
      assert.equal(await backend.store.remove(t.id), undefined, 'already removed');

      await backend.store.cancel(queued.id);
      assert.deepEqual(await backend.store.remove(queued.id), { keys: [] }, 'canceled while queued: no files');
      assert.deepEqual(await rows(), []);
    });

    test('remove deletes a retention tombstone (its files went at expiry)', async () => {
      const t = (await backend.store.enqueue(newTask({ kind: 'edit', inputKey: 'uploads/x_image' }))).task;
      await work.fail(await claimOne(), { code: 'oom', message: 'm', retryable: false }, { retry: false });
      assert.equal((await backend.housekeeping.expireFinished(Date.now() + 1000)).count, 1);
      assert.equal((await backend.store.get(t.id))?.error?.code, 'expired');
      assert.deepEqual(await backend.store.remove(t.id), { keys: [] });
      assert.equal(await backend.store.get(t.id), undefined);
    });

    test('events: queued, started, progress and completed reach subscribers', async () => {
      const seen: TaskEvent[] = [];
      const off = backend.events.subscribe((e) => seen.push(e));
      const t = (await backend.store.enqueue(newTask())).task;
      const claim = await claimOne();
      await work.progress(claim, { step: 1, total: 2 });
      await work.complete(claim, result);
      const deadline = Date.now() + 3000;
      while (seen.filter((e) => e.taskId === t.id).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      off();
      assert.deepEqual(seen.filter((e) => e.taskId === t.id).map((e) => e.type), ['queued', 'started', 'progress', 'completed']);
      assert.deepEqual(seen.find((e) => e.type === 'progress')?.progress, { step: 1, total: 2 });
    });

    test('list pages newest first with a stable cursor and filters by state and owner', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await backend.store.enqueue(newTask({ owner: i % 2 ? 'odd' : 'even' }))).task.id);
      const page1 = await backend.store.list({ limit: 2 });
      assert.deepEqual(page1.tasks.map((t) => t.id), [ids[4], ids[3]]);
      const page2 = await backend.store.list({ limit: 2, cursor: page1.nextCursor! });
      assert.deepEqual(page2.tasks.map((t) => t.id), [ids[2], ids[1]]);
      assert.deepEqual((await backend.store.list({ limit: 10, owner: 'odd' })).tasks.map((t) => t.id), [ids[3], ids[1]]);
      await claimOne();
      assert.deepEqual((await backend.store.list({ limit: 10, state: 'running' })).tasks.map((t) => t.id), [ids[0]]);
      await assert.rejects(backend.store.list({ limit: 2, cursor: '../etc' }), /cursor/);
      // A word of letters and digits is no cursor either (it once read as a base-36 seq: page 1).
      await assert.rejects(backend.store.list({ limit: 2, cursor: 'garbage' }), /cursor/);
      const tampered = `${page1.nextCursor!.slice(0, -1)}${page1.nextCursor!.endsWith('0') ? '1' : '0'}`;
      await assert.rejects(backend.store.list({ limit: 2, cursor: tampered }), /cursor/);
    });
  });
}

export const sqliteFactory: BackendFactory = {
  name: 'sqlite (embedded)',
  config: async (over = {}) => loopbackConfig(over),
};
