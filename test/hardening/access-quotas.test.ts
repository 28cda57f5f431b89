/**
 * Per-key limits, so one runaway script cannot starve the other keys: queued tasks per key
 * (ZIMAGE_MAX_QUEUED_PER_KEY: 429 too_many_queued with Retry-After) and requests a minute per
 * key (ZIMAGE_RATE_LIMIT: 429 rate_limited). ZIMAGE_MAX_QUEUE still bounds everyone, and nothing
 * already accepted is dropped: while key A floods, key B's tasks are accepted and run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import type { EngineContext, Job, RawImage } from '../../src/interfaces.js';
import { request } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The synthetic engine, holding every run until the test opens the gate; it records what started, in order. */
class GatedEngine extends SyntheticEngine {
  readonly started: string[] = [];
  private release!: () => void;
  private readonly gate = new Promise<void>((resolve) => { this.release = resolve; });
  open(): void {
    this.release();
  }
  override async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    this.started.push(job.prompt);
    await this.gate;
    return super.run(job, ctx);
  }
}

const KEYS = { alice: 'alice-key-0001', bob: 'bob-key-0002', carol: 'carol-key-0003' };
type Who = keyof typeof KEYS;

const submit = (base: string, who: Who, prompt: string, headers: Record<string, string> = {}) =>
  request(`${base}/v1/images/async_generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS[who]}`, ...headers },
    body: JSON.stringify({ prompt, size: '256x256' }),
  });

/** Polls a task with the key that owns it until it is no longer processing (bounded, so a bug cannot hang the suite). */
async function finished(base: string, who: Who, id: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await request(`${base}/v1/images/tasks/${id}`, { headers: { authorization: `Bearer ${KEYS[who]}` } });
    if (res.body.status !== 'processing') return res.body;
    if (Date.now() > deadline) throw new Error(`task ${id} still processing: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runningNow(engine: GatedEngine, prompt: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!engine.started.includes(prompt)) {
    if (Date.now() > deadline) throw new Error(`"${prompt}" never started`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const expectError = (res: { status: number; body: any; headers: Headers }, status: number, code: string) => {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(res.body.error.code, code);
  assert.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After says when');
};

describe('queued tasks per key (ZIMAGE_MAX_QUEUED_PER_KEY)', () => {
  let server: TestServer;
  let engine: GatedEngine;
  before(async () => {
    engine = new GatedEngine({ stepMs: 0 });
    server = await startTestServer({
      apiKeys: Object.entries(KEYS).map(([n, k]) => `${n}:${k}`).join(','), maxQueuedPerKey: 3, maxQueue: 7,
    }, { engine });
  });
  after(async () => {
    engine.open(); // a failed assertion must not leave the worker held
    await server.close();
  });

  test('key A floods and gets 429s past its limit while key B is accepted, and B\'s tasks complete in order', async () => {
    // Bob's first task occupies the one worker (held by the gate), so what follows stays queued.
    const b0 = await submit(server.url, 'bob', 'bob 0');
    assert.equal(b0.status, 200);
    await runningNow(engine, 'bob 0');

    const flood = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(server.url, 'alice', `alice ${i}`)));
    const accepted = flood.filter((r) => r.status === 200);
    const refused = flood.filter((r) => r.status !== 200);
    assert.equal(accepted.length, 3, 'exactly the per-key limit is queued');
    for (const r of refused) expectError(r, 429, 'too_many_queued');
    assert.equal(refused[0].body.error.type, 'rate_limit_error');
    assert.match(refused[0].body.error.message, /Your API key has 3 tasks waiting.*ZIMAGE_MAX_QUEUED_PER_KEY=3.*Retry-After/);

    // A retry of an accepted submit (same Idempotency-Key) still finds its task, limit or not.
    const keyed = await submit(server.url, 'bob', 'bob 1', { 'Idempotency-Key': 'bob-1' });
    assert.equal(keyed.status, 200);
    assert.equal((await submit(server.url, 'bob', 'bob 1', { 'Idempotency-Key': 'bob-1' })).body.task_id, keyed.body.task_id);
    const bob = [b0, keyed, await submit(server.url, 'bob', 'bob 2'), await submit(server.url, 'bob', 'bob 3')];
    for (const r of bob) assert.equal(r.status, 200, JSON.stringify(r.body));

    // Bob at his own limit now gets Alice's answer.
    expectError(await submit(server.url, 'bob', 'bob 4'), 429, 'too_many_queued');
    // ZIMAGE_MAX_QUEUE (7) still bounds everyone: with 3 of Alice's and 3 of Bob's queued, Carol gets one in, then 503.
    const carol = await submit(server.url, 'carol', 'carol 0');
    assert.equal(carol.status, 200);
    expectError(await submit(server.url, 'carol', 'carol 1'), 503, 'queue_full');

    engine.open();
    const bobDone = await Promise.all(bob.map((r) => finished(server.url, 'bob', r.body.task_id)));
    assert.deepEqual(bobDone.map((t) => t.status), ['completed', 'completed', 'completed', 'completed']);
    const ran = engine.started.filter((p) => p.startsWith('bob'));
    assert.deepEqual(ran, ['bob 0', 'bob 1', 'bob 2', 'bob 3'], 'Bob\'s tasks ran in the order he sent them');
    // Nothing accepted was dropped: every one of Alice's accepted tasks completes too.
    const aliceDone = await Promise.all(accepted.map((r) => finished(server.url, 'alice', r.body.task_id)));
    assert.deepEqual(aliceDone.map((t) => t.status), ['completed', 'completed', 'completed']);
    assert.equal((await finished(server.url, 'carol', carol.body.task_id)).status, 'completed');
    // Her queue drained, Alice may submit again.
    const later = await submit(server.url, 'alice', 'alice again');
    assert.equal(later.status, 200);
    assert.equal((await finished(server.url, 'alice', later.body.task_id)).status, 'completed');
  });
});

describe('requests a minute per key (ZIMAGE_RATE_LIMIT)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ worker: false, apiKeys: `alice:${KEYS.alice},bob:${KEYS.bob}`, rateLimit: 5 });
  });
  after(() => server.close());

  const list = (who: Who) => request(`${server.url}/v1/images/tasks`, { headers: { authorization: `Bearer ${KEYS[who]}` } });

  test('one key past its rate gets 429 rate_limited; another key from the same address is not affected', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await list('alice')).status, 200);
    const limited = await list('alice');
    expectError(limited, 429, 'rate_limited');
    assert.match(limited.body.error.message, /this API key may send 5 a minute \(ZIMAGE_RATE_LIMIT\)/);
    // Submits count too: Alice's is refused before anything is queued.
    expectError(await submit(server.url, 'alice', 'one more'), 429, 'rate_limited');
    for (let i = 0; i < 5; i++) assert.equal((await list('bob')).status, 200, 'Bob has his own budget');
    // Health checks are never counted.
    for (let i = 0; i < 10; i++) assert.equal((await request(`${server.url}/health`)).status, 200);
  });
});

describe('ZIMAGE_RATE_LIMIT without auth counts per client address', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ worker: false, rateLimit: 3 });
  });
  after(() => server.close());

  test('past the rate, 429 rate_limited naming the address', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await request(`${server.url}/v1/images/tasks`)).status, 200);
    const limited = await request(`${server.url}/v1/images/tasks`);
    expectError(limited, 429, 'rate_limited');
    assert.match(limited.body.error.message, /this client address may send 3 a minute/);
  });
});
