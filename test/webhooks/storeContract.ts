/**
 * The WebhookStore contract, run against each implementation (store-sqlite.test.ts,
 * store-postgres.test.ts): the delivery states, arming once, the scan for unarmed tasks,
 * and leased claims with fenced records.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TaskState } from '../../src/interfaces.js';
import type { WebhookStore } from '../../src/webhooks/store.js';

export interface TaskRow {
  id: string;
  state?: TaskState;
  webhookUrl?: string | null;
  expired?: boolean;
}

export interface StoreHarness {
  /** Stores on the same database; Postgres gives each its own pool (as separate nodes have). */
  stores: [WebhookStore, ...WebhookStore[]];
  /** Inserts a task row (default: completed, with a webhook). */
  addTask(task: TaskRow): Promise<void>;
  deleteTask(id: string): Promise<void>;
  close(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const LEASE = 30_000;
const ok = (at: number) => ({ at, statusCode: 200, error: null, durationMs: 3 });
const failed = (at: number) => ({ at, statusCode: 500, error: 'the receiver answered HTTP 500', durationMs: 4 });

export function webhookStoreContract(name: string, open: () => Promise<StoreHarness>): void {
  const withStore = (fn: (h: StoreHarness, store: WebhookStore) => Promise<void>) => async () => {
    const h = await open();
    try {
      await fn(h, h.stores[0]);
    } finally {
      await h.close();
    }
  };

  describe(`webhook store contract: ${name}`, () => {
    test('register keeps the link base until the task is final; it reads as pending with no next attempt', withStore(async (h, store) => {
      await h.addTask({ id: 't1', state: 'queued' });
      await store.register('t1', 'https://hooks.example/a', null, T0);
      await store.register('t1', 'https://hooks.example/a', 'https://api.example', T0 + 1); // fills a missing base only
      await store.register('t1', 'https://hooks.example/a', 'https://other.example', T0 + 2);
      const d = await store.byTask('t1');
      assert.equal(d?.status, 'waiting');
      assert.equal(d?.baseUrl, 'https://api.example');
      assert.match(d!.id, /^msg_[a-f0-9]{32}$/);
      assert.deepEqual(await store.summary('t1'), { url: 'https://hooks.example/a', status: 'pending', attempts: [], nextAttemptAt: null });
      assert.equal(await store.summary('nope'), undefined);
    }));

    test('arm makes a delivery due once: a second arm (another node, a replayed event) changes nothing', withStore(async (h, store) => {
      await h.addTask({ id: 'reg' });
      await h.addTask({ id: 'unreg' });
      await store.register('reg', 'https://hooks.example/r', 'https://api.example', T0);
      const id = (await store.byTask('reg'))!.id;
      assert.equal(await store.arm('reg', 'https://hooks.example/r', T0 + 10), true);
      assert.equal(await store.arm('reg', 'https://hooks.example/r', T0 + 20), false);
      const d = (await store.byTask('reg'))!;
      assert.deepEqual([d.id, d.status, d.nextAttemptAt, d.baseUrl], [id, 'pending', T0 + 10, 'https://api.example']);
      // A task whose registration was lost is armed all the same (links then use the fallback base).
      assert.equal(await store.arm('unreg', 'https://hooks.example/u', T0), true);
      assert.deepEqual((await store.byTask('unreg'))?.baseUrl, null);
      const all = await Promise.all(h.stores.flatMap((s) => [s.arm('reg', 'x', T0), s.arm('unreg', 'x', T0)]));
      assert.ok(all.every((armed) => !armed));
    }));

    test('concurrent arms of one task from every store: exactly one wins', withStore(async (h) => {
      await h.addTask({ id: 'race' });
      const arms = await Promise.all(h.stores.flatMap((s) => Array.from({ length: 4 }, () => s.arm('race', 'https://hooks.example/x', T0))));
      assert.equal(arms.filter(Boolean).length, 1);
    }));

    test('unarmed lists final, unexpired tasks with a webhook and no armed delivery, oldest first', withStore(async (h, store) => {
      await h.addTask({ id: 'done-no-row', state: 'completed' });
      await h.addTask({ id: 'failed-waiting', state: 'failed' });
      await h.addTask({ id: 'queued', state: 'queued' });
      await h.addTask({ id: 'running', state: 'running' });
      await h.addTask({ id: 'canceled-armed', state: 'canceled' });
      await h.addTask({ id: 'no-hook', webhookUrl: null });
      await h.addTask({ id: 'expired', expired: true });
      await h.addTask({ id: 'canceled-no-row', state: 'canceled' });
      await store.register('failed-waiting', 'https://hooks.example/failed-waiting', null, T0);
      await store.register('queued', 'https://hooks.example/queued', null, T0);
      await store.arm('canceled-armed', 'https://hooks.example/canceled-armed', T0);
      const expected = ['done-no-row', 'failed-waiting', 'canceled-no-row'];
      assert.deepEqual(await store.unarmed(10), expected.map((id) => ({ taskId: id, url: `https://hooks.example/${id}` })));
      assert.deepEqual((await store.unarmed(2)).map((m) => m.taskId), expected.slice(0, 2));
    }));

    test('claimDue leases due deliveries: not due again until the lease runs out, then with a new token', withStore(async (h, store) => {
      for (const id of ['a', 'b', 'c', 'later']) await h.addTask({ id });
      await store.arm('a', 'https://hooks.example/a', T0);
      await store.arm('b', 'https://hooks.example/b', T0 + 1);
      await store.arm('c', 'https://hooks.example/c', T0 + 2);
      await store.arm('later', 'https://hooks.example/later', T0 + 60_000);
      const first = await store.claimDue(T0 + 5, 2, LEASE);
      assert.deepEqual(first.map((d) => d.taskId).sort(), ['a', 'b']);
      for (const d of first) {
        assert.match(d.leaseToken, /^lease_/);
        assert.equal(d.nextAttemptAt, T0 + 5 + LEASE);
        assert.equal(d.status, 'pending');
        assert.deepEqual(d.attempts, []);
        assert.equal((await store.byTask(d.taskId))?.nextAttemptAt, T0 + 5 + LEASE, 'the summary shows when the lease runs out');
      }
      const second = await store.claimDue(T0 + 6, 10, LEASE);
      assert.deepEqual(second.map((d) => d.taskId), ['c']);
      assert.deepEqual(await store.claimDue(T0 + 5 + LEASE - 1, 10, LEASE), []);
      // The holder of a's lease died: once it runs out, a and b are due again, under new tokens.
      const again = await store.claimDue(T0 + 5 + LEASE, 10, LEASE);
      assert.deepEqual(again.map((d) => d.taskId).sort(), ['a', 'b']);
      for (const d of again) assert.notEqual(d.leaseToken, first.find((f) => f.id === d.id)!.leaseToken);
      // `later` is due at its time; c with it, since c's lease ran out too (a's and b's new ones have not).
      assert.deepEqual((await store.claimDue(T0 + 60_000, 10, LEASE)).map((d) => d.taskId).sort(), ['c', 'later']);
    }));

    test('record applies under the current lease only: once, never with a stale token', withStore(async (h, store) => {
      await h.addTask({ id: 't' });
      await store.arm('t', 'https://hooks.example/t', T0);
      const [stale] = await store.claimDue(T0, 1, LEASE);
      const [current] = await store.claimDue(T0 + LEASE, 1, LEASE); // stale's node outlived its lease
      assert.equal(await store.record(stale!.id, stale!.leaseToken, failed(T0 + 1), { status: 'pending', nextAttemptAt: T0 + 5000 }, T0 + 2), false);
      assert.equal(await store.record(current!.id, 'lease_forged', failed(T0 + 1), { status: 'failed', nextAttemptAt: null }, T0 + 2), false);
      assert.deepEqual((await store.byTask('t'))?.attempts, []);

      const next = { status: 'pending' as const, nextAttemptAt: T0 + LEASE + 5000 };
      assert.equal(await store.record(current!.id, current!.leaseToken, failed(T0 + LEASE), next, T0 + LEASE + 1), true);
      assert.equal(await store.record(current!.id, current!.leaseToken, failed(T0 + LEASE), next, T0 + LEASE + 1), false, 'a claim records one attempt');
      const pending = (await store.byTask('t'))!;
      assert.deepEqual([pending.status, pending.nextAttemptAt, pending.leaseToken, pending.attempts.length], ['pending', T0 + LEASE + 5000, null, 1]);
      assert.deepEqual(await store.claimDue(T0 + LEASE + 4999, 1, LEASE), []);

      const [retry] = await store.claimDue(T0 + LEASE + 5000, 1, LEASE);
      assert.equal(retry!.attempts.length, 1, 'a claim carries the attempts so far');
      assert.equal(await store.record(retry!.id, retry!.leaseToken, ok(T0 + 40_000), { status: 'delivered', nextAttemptAt: null }, T0 + 40_001), true);
      assert.deepEqual(await store.summary('t'), {
        url: 'https://hooks.example/t', status: 'delivered', attempts: [failed(T0 + LEASE), ok(T0 + 40_000)], nextAttemptAt: null,
      });
      assert.deepEqual(await store.claimDue(T0 + 10_000_000, 10, LEASE), [], 'delivered is never due');
      assert.equal(await store.record(retry!.id, retry!.leaseToken, ok(T0), { status: 'failed', nextAttemptAt: null }, T0), false);
    }));

    test('a failed delivery shows no next attempt and is never due again', withStore(async (h, store) => {
      await h.addTask({ id: 't' });
      await store.arm('t', 'https://hooks.example/t', T0);
      const [d] = await store.claimDue(T0, 1, LEASE);
      const refused = { at: T0, statusCode: null, error: 'refused: not a public address', durationMs: 1 };
      assert.equal(await store.record(d!.id, d!.leaseToken, refused, { status: 'failed', nextAttemptAt: null }, T0 + 1), true);
      assert.deepEqual(await store.summary('t'), { url: 'https://hooks.example/t', status: 'failed', attempts: [refused], nextAttemptAt: null });
      assert.deepEqual(await store.claimDue(T0 + 10_000_000, 10, LEASE), []);
    }));

    test('concurrent claims from every store: each due delivery goes to exactly one claimer', withStore(async (h) => {
      const ids = Array.from({ length: 40 }, (_, i) => `task${String(i).padStart(2, '0')}`);
      for (const id of ids) await h.addTask({ id });
      for (const id of ids) await h.stores[0].arm(id, `https://hooks.example/${id}`, T0);
      const claims = await Promise.all(h.stores.flatMap((s) => Array.from({ length: 8 }, () => s.claimDue(T0, 3, LEASE))));
      const claimed = claims.flat().map((d) => d.taskId);
      assert.equal(claimed.length, new Set(claimed).size, 'no delivery claimed twice');
      const rest = await h.stores[0].claimDue(T0, 100, LEASE);
      assert.deepEqual([...claimed, ...rest.map((d) => d.taskId)].sort(), ids);
    }));

    test('deleting a task deletes its delivery', withStore(async (h, store) => {
      await h.addTask({ id: 'gone' });
      await store.arm('gone', 'https://hooks.example/gone', T0);
      await h.deleteTask('gone');
      assert.equal(await store.byTask('gone'), undefined);
      assert.deepEqual(await store.claimDue(T0, 10, LEASE), []);
    }));
  });
}
