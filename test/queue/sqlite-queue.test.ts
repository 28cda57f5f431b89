/**
 * The embedded queue against real SQLite files. Crashes are simulated by seeding rows
 * directly (a task left running by a dead process), then the stored rows are asserted.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LostClaimError, QueueFullError } from '../../src/errors.js';
import type { NewTask } from '../../src/interfaces.js';
import { DataDirInUseError, lockDataDir, openDatabase } from '../../src/queue/sqlite/open.js';
import { SqliteQueue, TOMBSTONE_MS } from '../../src/queue/sqlite/queue.js';
import { tempDir } from '../helpers/server.js';

const params = { prompt: 'p', n: 1, width: 256, height: 256, seed: 1, output_format: 'png', response_format: 'url' } as const;
const newTask = (over: Partial<NewTask> = {}): NewTask => ({ kind: 'generate', params: { ...params }, ...over });

describe('SqliteQueue', () => {
  let dir: string;
  let file: string;
  let queue: SqliteQueue;
  let clock: number;
  const open = () => new SqliteQueue(openDatabase(file), { leaseMs: 1000, idlePollMs: 50, now: () => clock });
  const rows = () => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare('SELECT id, state, attempts, claim_token, error FROM tasks ORDER BY seq').all() as any[];
    } finally {
      db.close();
    }
  };

  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'zimage.db');
    clock = 1_000_000;
    queue = open();
  });
  afterEach(() => queue.close());

  test('enqueue commits before resolving; claims are FIFO and count the attempt', async () => {
    const a = (await queue.enqueue(newTask())).task;
    const b = (await queue.enqueue(newTask())).task;
    assert.deepEqual(rows().map((r) => [r.id, r.state, r.attempts]), [[a.id, 'queued', 0], [b.id, 'queued', 0]]);
    assert.equal(await queue.position(a.id), 0);
    assert.equal(await queue.position(b.id), 1);
    const claim = await queue.claim('w1');
    assert.equal(claim?.task.id, a.id);
    assert.equal(claim?.task.attempts, 1);
    assert.equal(await queue.position(b.id), 0);
    assert.equal((await queue.claim('w2'))?.task.id, b.id);
    assert.equal(await queue.claim('w3'), undefined);
  });

  test('every worker write is fenced by its claim token', async () => {
    await queue.enqueue(newTask());
    const claim = (await queue.claim('w1'))!;
    const stale = { ...claim, token: 'not-the-token' };
    await assert.rejects(queue.complete(stale, { outputs: [], engine: 'x', synthetic: true }), LostClaimError);
    await assert.rejects(queue.progress(stale, { step: 1, total: 2 }), LostClaimError);
    await assert.rejects(queue.heartbeat(stale), LostClaimError);
    assert.equal(rows()[0].state, 'running');
    await queue.complete(claim, { outputs: [], engine: 'x', synthetic: true });
    assert.equal(rows()[0].state, 'completed');
    // Completing twice is refused too: the token died with the first final write.
    await assert.rejects(queue.complete(claim, { outputs: [], engine: 'x', synthetic: true }), LostClaimError);
  });

  test('a task left running by a dead process is requeued at start, then fails once attempts are spent', async () => {
    await queue.enqueue(newTask({ maxAttempts: 2 }));
    for (let attempt = 1; attempt <= 2; attempt++) {
      const claim = await queue.claim(`w${attempt}`);
      assert.equal(claim?.task.attempts, attempt);
      // Simulate the process dying mid-run: reopen the database without any clean-up.
      queue.close();
      queue = open();
      assert.equal(rows()[0].state, 'running');
      assert.equal(await queue.requeueAllRunning(), 1);
      assert.deepEqual([rows()[0].state, rows()[0].claim_token], ['queued', null]);
    }
    assert.equal(await queue.claim('w3'), undefined, 'no third run');
    const [row] = rows();
    assert.equal(row.state, 'failed');
    assert.equal(JSON.parse(row.error).code, 'attempts_exhausted');
  });

  test('recover without `all` only takes back tasks whose lease ran out', async () => {
    await queue.enqueue(newTask());
    const claim = (await queue.claim('w1'))!;
    clock += 500;
    assert.equal(await queue.recover(), 0);
    await queue.heartbeat(claim);
    clock += 900;
    assert.equal(await queue.recover(), 0, 'the heartbeat extended the lease');
    clock += 1000;
    assert.equal(await queue.recover(), 1);
    await assert.rejects(queue.complete(claim, { outputs: [], engine: 'x', synthetic: true }), LostClaimError);
  });

  test('retryable failures go back to the queue until attempts run out; release refunds the attempt', async () => {
    await queue.enqueue(newTask({ maxAttempts: 2 }));
    let claim = (await queue.claim('w'))!;
    await queue.release(claim);
    assert.deepEqual([rows()[0].state, rows()[0].attempts], ['queued', 0]);
    claim = (await queue.claim('w'))!;
    const err = { code: 'engine_crashed', message: 'x', retryable: true };
    assert.equal(await queue.fail(claim, err, { retry: true }), 'queued');
    claim = (await queue.claim('w'))!;
    assert.equal(claim.task.attempts, 2);
    assert.equal(await queue.fail(claim, err, { retry: true }), 'failed');
    assert.equal(JSON.parse(rows()[0].error).code, 'engine_crashed');
  });

  test('cancel: a queued task at once, a running one by request to its worker', async () => {
    const a = (await queue.enqueue(newTask())).task;
    const b = (await queue.enqueue(newTask())).task;
    const events: string[] = [];
    queue.subscribe((e) => events.push(`${e.type}:${e.taskId === a.id ? 'a' : 'b'}`));
    const claim = (await queue.claim('w'))!;
    assert.equal((await queue.cancel(b.id))?.state, 'canceled');
    const running = await queue.cancel(a.id);
    assert.deepEqual([running?.state, running?.cancelRequested], ['running', true]);
    await queue.finishCanceled(claim);
    assert.deepEqual(rows().map((r) => r.state), ['canceled', 'canceled']);
    assert.deepEqual(events, ['started:a', 'canceled:b', 'cancel_requested:a', 'canceled:a']);
  });

  test('idempotency keys return the first task per owner', async () => {
    const first = await queue.enqueue(newTask({ idempotencyKey: 'k1', owner: 'alice' }));
    const again = await queue.enqueue(newTask({ idempotencyKey: 'k1', owner: 'alice' }));
    const other = await queue.enqueue(newTask({ idempotencyKey: 'k1', owner: 'bob' }));
    assert.equal(first.created, true);
    assert.deepEqual([again.created, again.task.id], [false, first.task.id]);
    assert.notEqual(other.task.id, first.task.id);
    assert.equal(rows().length, 2);
  });

  test('retention leaves a tombstone that answers failed/expired and hands back the files to delete', async () => {
    const t = (await queue.enqueue(newTask({ inputKey: 'uploads/x_image' }))).task;
    const claim = (await queue.claim('w'))!;
    const out = { file: 'outputs/gen_a.png', seed: 1, width: 256, height: 256, format: 'png' as const, bytes: 10 };
    await queue.complete(claim, { outputs: [out], engine: 'synthetic', synthetic: true });
    assert.deepEqual(await queue.expireFinished(clock - 1), { count: 0, keys: [] });
    clock += 10;
    assert.deepEqual(await queue.expireFinished(clock), { count: 1, keys: ['outputs/gen_a.png', 'uploads/x_image'] });
    const expired = await queue.get(t.id);
    assert.deepEqual([expired?.state, expired?.error?.code, expired?.result], ['failed', 'expired', null]);
    assert.deepEqual(await queue.expireFinished(clock), { count: 0, keys: [] });
  });

  test('a cancel requested before a crash or a shutdown ends canceled, announced as canceled', async () => {
    const a = (await queue.enqueue(newTask())).task;
    const b = (await queue.enqueue(newTask())).task;
    const events: string[] = [];
    queue.subscribe((e) => events.push(`${e.type}:${e.taskId === a.id ? 'a' : 'b'}`));
    const claimA = (await queue.claim('w'))!;
    await queue.cancel(a.id);
    await queue.release(claimA); // graceful shutdown hands back a task whose cancel was asked for
    const claimB = (await queue.claim('w'))!;
    await queue.cancel(b.id);
    queue.close();
    queue = open(); // the process died with b running and its cancel requested
    queue.subscribe((e) => events.push(`${e.type}:${e.taskId === a.id ? 'a' : 'b'}`));
    assert.equal(await queue.requeueAllRunning(), 1);
    assert.deepEqual(rows().map((r) => r.state), ['canceled', 'canceled']);
    assert.deepEqual(events, ['started:a', 'cancel_requested:a', 'canceled:a', 'started:b', 'cancel_requested:b', 'canceled:b']);
    assert.ok(claimB);
  });

  test('the queue-full check is part of enqueue; a repeated idempotency key still finds its task', async () => {
    const first = await queue.enqueue(newTask({ idempotencyKey: 'k' }), { maxQueued: 2 });
    await queue.enqueue(newTask(), { maxQueued: 2 });
    await assert.rejects(queue.enqueue(newTask(), { maxQueued: 2 }), (e: unknown) => e instanceof QueueFullError && e.queued === 2);
    const again = await queue.enqueue(newTask({ idempotencyKey: 'k' }), { maxQueued: 2 });
    assert.deepEqual([again.created, again.task.id], [false, first.task.id]);
    assert.equal(rows().length, 2);
  });

  test('a finished task keeps the step count it reached', async () => {
    await queue.enqueue(newTask());
    const claim = (await queue.claim('w'))!;
    await queue.progress(claim, { step: 8, total: 8 });
    await queue.complete(claim, { outputs: [], engine: 'x', synthetic: true });
    assert.deepEqual((await queue.get(claim.task.id))?.progress, { step: 8, total: 8 });
  });

  test('tombstones keep no prompt, webhook or idempotency key, and are deleted 30 days later', async () => {
    const t = (await queue.enqueue(newTask({ idempotencyKey: 'k', webhookUrl: 'https://example.com/hook' }))).task;
    const claim = (await queue.claim('w'))!;
    await queue.complete(claim, { outputs: [], engine: 'x', synthetic: true });
    clock += 10;
    assert.equal((await queue.expireFinished(clock)).count, 1);
    const tomb = (await queue.get(t.id))!;
    assert.deepEqual([tomb.params.prompt, tomb.webhookUrl, tomb.idempotencyKey, tomb.error?.code], [undefined, null, null, 'expired']);
    assert.notEqual((await queue.enqueue(newTask({ idempotencyKey: 'k' }))).task.id, t.id, 'the key is free again');
    clock += TOMBSTONE_MS - 1000;
    await queue.expireFinished(clock - 3600_000);
    assert.ok(await queue.get(t.id), 'still answers expired');
    clock += 2000;
    await queue.expireFinished(clock - 3600_000);
    assert.equal(await queue.get(t.id), undefined);
  });

  test('one process per data directory: a second lock is refused, and freed when the holder goes', () => {
    const held = lockDataDir(dir);
    assert.throws(() => lockDataDir(dir), DataDirInUseError);
    held.close();
    lockDataDir(dir).close();
  });
});
