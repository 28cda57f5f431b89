/**
 * Webhook dispatchers of several API nodes on one PostgreSQL (a real server, one pool per
 * node, final events heard by every node as in a fleet): each webhook is delivered once; a
 * node that dies mid-attempt leaves the delivery to another once its lease runs out; a node
 * that outlives its lease cannot record its late attempt.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import type { TaskEvent, TaskEvents } from '../../src/interfaces.js';
import { LocalStorage } from '../../src/storage/local.js';
import { WebhookDispatcher, type DispatcherOptions } from '../../src/webhooks/dispatcher.js';
import { PostgresWebhookStore } from '../../src/webhooks/postgresStore.js';
import { secretKey } from '../../src/webhooks/signing.js';
import { startPostgres, type Service } from '../helpers/services.js';
import { freshSchema, insertTask, taskReader } from './pgDatabase.js';
import { startReceiver, verifyStandardWebhook, type Received } from './receiver.js';

const SECRET = `whsec_${Buffer.from('multinode-test-secret-0123456789').toString('base64')}`;

let postgres: Service;
let storageDir: string;
before(async () => {
  postgres = await startPostgres();
  storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zimage-multinode-'));
});
after(async () => {
  await postgres?.close();
  fs.rmSync(storageDir, { recursive: true, force: true });
});

/** What carries final events to every node (BullMQ QueueEvents in a fleet). */
class EventBus implements TaskEvents {
  private readonly listeners = new Set<(e: TaskEvent) => void>();
  subscribe(listener: (e: TaskEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(e: TaskEvent): void {
    for (const l of this.listeners) l(e);
  }
}

interface Node {
  dispatcher: WebhookDispatcher;
  pool: pg.Pool;
  logs: Array<{ msg: string; [k: string]: unknown }>;
}

/** One API node: its own pool, store and dispatcher, on the shared database and event bus. */
function startNode(url: string, bus: EventBus, opts: Partial<DispatcherOptions> = {}): Node {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const logs: Node['logs'] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => { logs.push(JSON.parse(line)); } });
  const dispatcher = new WebhookDispatcher({
    store: new PostgresWebhookStore(pool), tasks: taskReader(pool), events: bus,
    storage: new LocalStorage(storageDir), log, key: secretKey(SECRET),
    publicUrl: 'https://api.example', allowPrivate: true, maxAttempts: 5, timeoutMs: 5000,
    ...opts,
  });
  return { dispatcher, pool, logs };
}

async function stopNodes(...nodes: Node[]): Promise<void> {
  for (const n of nodes) await n.dispatcher.stop();
  await Promise.all(nodes.map((n) => n.pool.end()));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const deliveries = async (pool: pg.Pool) =>
  (await pool.query<{ task_id: string; status: string; attempts: unknown[] }>('SELECT task_id, status, attempts FROM webhook_deliveries ORDER BY task_id')).rows;

test('two API nodes on one Postgres, one receiver: each webhook is delivered exactly once', { timeout: 60_000 }, async (t) => {
  const receiver = await startReceiver();
  const url = await freshSchema(postgres.url);
  const bus = new EventBus();
  // Fast ticks, so both nodes keep claiming while attempts run: races are the point.
  const a = startNode(url, bus, { tickMs: 5, concurrency: 4 });
  const b = startNode(url, bus, { tickMs: 5, concurrency: 4 });
  t.after(async () => {
    await stopNodes(a, b);
    await receiver.close();
  });
  a.dispatcher.start('http://127.0.0.1:1');
  b.dispatcher.start('http://127.0.0.1:1');

  const ids = Array.from({ length: 40 }, (_, i) => `task_${String(i).padStart(2, '0')}`);
  for (const [i, id] of ids.entries()) {
    await insertTask(a.pool, { id, state: 'queued', webhookUrl: `${receiver.url}/hook/${id}` });
    const node = i % 2 ? b : a; // submitted on either node
    node.dispatcher.accepted((await taskReader(node.pool).get(id))!, null);
  }
  await until('registrations', async () => (await deliveries(a.pool)).length === ids.length);
  for (const [i, id] of ids.entries()) {
    await a.pool.query(`UPDATE tasks SET state = 'canceled', finished_at = $2 WHERE id = $1`, [id, Date.now()]);
    // Every node hears the final event, except for a few (events are hints): the scan arms those.
    if (i % 8 !== 7) bus.emit({ type: 'canceled', taskId: id, at: Date.now() });
  }

  await receiver.waitFor(ids.length, 30_000);
  await until('every delivery recorded', async () => (await deliveries(a.pool)).every((d) => d.status === 'delivered'));
  await new Promise((r) => setTimeout(r, 300)); // both nodes keep ticking: nothing more may arrive
  assert.equal(receiver.received.length, ids.length);
  assert.deepEqual(receiver.received.map((r) => r.path).sort(), ids.map((id) => `/hook/${id}`));
  assert.equal(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size, ids.length);
  for (const r of receiver.received) assert.ok(verifyStandardWebhook(r, SECRET), 'signed with the shared secret');
  for (const d of await deliveries(a.pool)) assert.equal(d.attempts.length, 1, d.task_id);
  const byNode = (n: Node) => n.logs.filter((l) => l.msg === 'webhook delivered').length;
  assert.equal(byNode(a) + byNode(b), ids.length);
  assert.ok(!a.logs.concat(b.logs).some((l) => l.msg.startsWith('webhook attempt not recorded')));
});

/** A receiver that holds the first request unanswered (until release) and answers the rest 200. */
async function holdingReceiver() {
  const received: Received[] = [];
  let held: http.ServerResponse | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (received.length === 1) held = res;
      else res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    release: () => held?.end('ok, late'),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A completed task whose delivery is armed, and node A attempting it against a receiver that does not answer. */
async function attemptStuckOnA(t: { after(fn: () => Promise<void>): void }) {
  const receiver = await holdingReceiver();
  const url = await freshSchema(postgres.url);
  const bus = new EventBus();
  const leaseMs = 400;
  // A waits a minute for an answer: far past its lease. B's clock is only driven by deliverDue.
  const a = startNode(url, bus, { leaseMs, timeoutMs: 60_000, tickMs: 3_600_000 });
  const b = startNode(url, bus, { leaseMs, tickMs: 3_600_000 });
  const stopped: Node[] = [];
  t.after(async () => {
    receiver.release();
    await stopNodes(...[a, b].filter((n) => !stopped.includes(n)));
    await receiver.close();
  });
  await insertTask(a.pool, { id: 'task_1', state: 'completed', webhookUrl: `${receiver.url}/hook` });
  a.dispatcher.start('http://127.0.0.1:1'); // its first tick arms the delivery and claims it
  await until('A attempting', () => receiver.received.length === 1);
  assert.equal(await b.dispatcher.deliverDue(), 0, 'B leaves a leased delivery alone');
  const leaseEnds = Date.now() + leaseMs;
  return { receiver, a, b, stopped, leaseEnds };
}

test('a node that dies mid-attempt: once its lease runs out, another node delivers', { timeout: 30_000 }, async (t) => {
  const { receiver, a, b, stopped, leaseEnds } = await attemptStuckOnA(t);
  await a.dispatcher.stop(); // dies: the attempt is abandoned, nothing recorded
  stopped.push(a);
  await a.pool.end();
  assert.deepEqual((await deliveries(b.pool))[0]!.attempts, []);
  await new Promise((r) => setTimeout(r, Math.max(0, leaseEnds - Date.now()) + 50));
  assert.equal(await b.dispatcher.deliverDue(), 1);
  const [d] = await deliveries(b.pool);
  assert.equal(d!.status, 'delivered');
  assert.equal(d!.attempts.length, 1);
  assert.equal(receiver.received.length, 2);
  assert.equal(receiver.received[1]!.headers['webhook-id'], receiver.received[0]!.headers['webhook-id'], 'the same message: receivers dedupe on it');
});

test('a node that outlives its lease: the other node delivers, and the late attempt is not recorded', { timeout: 30_000 }, async (t) => {
  const { receiver, a, b, leaseEnds } = await attemptStuckOnA(t);
  await new Promise((r) => setTimeout(r, Math.max(0, leaseEnds - Date.now()) + 50));
  assert.equal(await b.dispatcher.deliverDue(), 1);
  assert.equal((await deliveries(b.pool))[0]!.status, 'delivered');
  receiver.release(); // A's answer finally arrives: its lease token is stale
  await until('A refused', () => a.logs.some((l) => l.msg === 'webhook attempt not recorded: its lease ran out and another attempt took over'));
  const [d] = await deliveries(b.pool);
  assert.equal(d!.status, 'delivered');
  assert.equal(d!.attempts.length, 1, 'only the attempt under the current lease is recorded');
  assert.equal(receiver.received.length, 2);
  assert.ok(!a.logs.some((l) => l.msg === 'webhook delivered'));
  assert.equal(b.logs.filter((l) => l.msg === 'webhook delivered').length, 1);
});
