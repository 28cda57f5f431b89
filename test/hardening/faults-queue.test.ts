/**
 * The queue's side of transient faults and of the orphan sweep, on both backends (the embedded
 * SQLite queue, and Postgres + BullMQ on real servers): a deferred task keeps its attempts, waits
 * out its backoff, honours a cancel, and fails only once its deferrals run out; referencedKeys
 * names exactly the stored files that some task row still points at.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { LostClaimError } from '../../src/errors.js';
import type { Claim, NewTask, TaskError, WorkQueue } from '../../src/interfaces.js';
import { DEFER_BASE_MS, MAX_DEFERRALS } from '../../src/queue/deferral.js';
import { openBackend, type Backend } from '../../src/queue/index.js';
import { fleetConfig, useFleetServices } from '../helpers/fleet.js';
import { loopbackConfig } from '../helpers/server.js';
import type { BackendFactory } from '../queue/contract.js';

const params = { prompt: 'p', n: 1, width: 256, height: 256, seed: 1, output_format: 'png', response_format: 'url' } as const;
const newTask = (over: Partial<NewTask> = {}): NewTask => ({ kind: 'generate', params: { ...params }, ...over });
const fault: TaskError = { code: 'storage_full', message: 'no space', retryable: true };
const output = (file: string) => ({ file, seed: 1, width: 1, height: 1, format: 'png' as const, bytes: 1 });

interface Row { state: string; attempts: number; deferrals: number; not_before: number | null }

async function sql<T = Row>(backend: Backend, statement: string): Promise<T[]> {
  if (backend.db) return /^\s*select/i.test(statement) ? backend.db.prepare(statement).all() as T[] : (backend.db.exec(statement), []);
  return (await backend.pool!.query(statement)).rows as T[];
}

function faultContract(factory: BackendFactory): void {
  describe(`transient faults and referenced keys: ${factory.name}`, () => {
    let backend: Backend;
    let work: WorkQueue;
    const row = async () => (await sql(backend, 'SELECT state, attempts, deferrals, not_before FROM tasks'))
      .map((r) => ({ ...r, attempts: Number(r.attempts), deferrals: Number(r.deferrals), not_before: r.not_before === null ? null : Number(r.not_before) }))[0];
    /** Claims within a few seconds (a fleet's delayed ticket comes back on BullMQ's clock). */
    const claimSoon = async (ms = 6000): Promise<Claim | undefined> => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const claim = await work.claim('w');
        if (claim) return claim;
        await new Promise((r) => setTimeout(r, 50));
      }
      return undefined;
    };

    beforeEach(async () => {
      backend = await openBackend(await factory.config({ leaseSeconds: 5 }), pino({ level: 'silent' }));
      work = await backend.workQueue();
    });
    afterEach(() => backend.close());

    test('defer hands the task back with its attempt refunded and the deferral counted, not claimable before its backoff', async () => {
      await backend.store.enqueue(newTask({ maxAttempts: 1 }));
      const claim = (await claimSoon())!;
      const before = Date.now();
      const out = await work.defer(claim, fault);
      assert.equal(out.state, 'queued');
      assert.ok(out.delayMs >= DEFER_BASE_MS * 0.9 && out.delayMs <= DEFER_BASE_MS * 1.1, `first backoff about a second, was ${out.delayMs}`);
      const deferred = await row();
      assert.deepEqual([deferred.state, deferred.attempts, deferred.deferrals], ['queued', 0, 1]);
      assert.ok(deferred.not_before! >= before + out.delayMs - 5, 'not claimable before the backoff');
      assert.equal(await work.claim('w2'), undefined, 'still inside its backoff');
      await assert.rejects(work.heartbeat(claim), LostClaimError, 'the deferred claim is over');

      await sql(backend, 'UPDATE tasks SET not_before = 1'); // the backoff has passed
      const again = await claimSoon();
      assert.ok(again, 'claimable once the backoff is over');
      assert.equal(again.task.attempts, 1, 'a one-attempt task still has its attempt');
      await work.complete(again, { outputs: [], engine: 'x', synthetic: true });
      assert.deepEqual([(await row()).state, (await row()).not_before], ['completed', null]);
    });

    test('each deferral waits longer; past MAX_DEFERRALS the task fails with the fault', async () => {
      await backend.store.enqueue(newTask());
      let claim = (await claimSoon())!;
      const first = await work.defer(claim, fault);
      await sql(backend, 'UPDATE tasks SET not_before = 1');
      claim = (await claimSoon())!;
      const second = await work.defer(claim, fault);
      assert.ok(second.delayMs > first.delayMs, `${second.delayMs} after ${first.delayMs}`);

      await sql(backend, `UPDATE tasks SET not_before = 1, deferrals = ${MAX_DEFERRALS}`);
      claim = (await claimSoon())!;
      assert.deepEqual(await work.defer(claim, fault), { state: 'failed', delayMs: 0 });
      const task = await backend.store.get(claim.task.id);
      assert.equal(task?.state, 'failed');
      assert.equal(task?.error?.code, 'storage_full');
      assert.match(task!.error!.message, /no space.*given up/);
    });

    test('a cancel asked for while the task ran is honoured by defer', async () => {
      const t = (await backend.store.enqueue(newTask())).task;
      const claim = (await claimSoon())!;
      await backend.store.cancel(t.id);
      assert.deepEqual(await work.defer(claim, fault), { state: 'canceled', delayMs: 0 });
      assert.equal((await backend.store.get(t.id))?.state, 'canceled');
    });

    test('a deferred claim is fenced like every worker write', async () => {
      await backend.store.enqueue(newTask());
      const claim = (await claimSoon())!;
      await assert.rejects(work.defer({ ...claim, token: 'stale' }, fault), LostClaimError);
      assert.equal((await row()).state, 'running');
    });

    test('referencedKeys names the outputs, uploads and masks of task rows, in any state, and nothing else', async () => {
      const done = (await backend.store.enqueue(newTask({ kind: 'edit', inputKey: 'uploads/a_image', maskKey: 'uploads/a_mask' }))).task;
      await backend.store.enqueue(newTask({ kind: 'edit', inputKey: 'uploads/b_image' })); // still queued
      const claim = (await claimSoon())!;
      assert.equal(claim.task.id, done.id);
      await work.complete(claim, { outputs: [output('outputs/gen_a.png'), output('outputs/gen_b.png')], engine: 'x', synthetic: true });
      const asked = ['outputs/gen_a.png', 'outputs/gen_b.png', 'outputs/gen_orphan.png', 'uploads/a_image', 'uploads/a_mask', 'uploads/b_image', 'uploads/c_image'];
      assert.deepEqual([...await backend.housekeeping.referencedKeys(asked)].sort(),
        ['outputs/gen_a.png', 'outputs/gen_b.png', 'uploads/a_image', 'uploads/a_mask', 'uploads/b_image']);
      assert.deepEqual([...await backend.housekeeping.referencedKeys([])], []);
      await backend.store.remove(done.id);
      assert.deepEqual([...await backend.housekeeping.referencedKeys(asked)], ['uploads/b_image'], 'a removed task names nothing');
    });
  });
}

faultContract({ name: 'sqlite (embedded)', config: async (over = {}) => loopbackConfig(over) });

const services = useFleetServices();
faultContract({ name: 'postgres + bullmq (fleet)', config: (over = {}) => fleetConfig(services.postgres, services.redis, over) });
