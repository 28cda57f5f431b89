/**
 * GET /v1/images/tasks/{id}/events over real HTTP: snapshot, queue position, progress and the
 * final result; Last-Event-ID replay (and the snapshot when the ring has moved on); no leaked
 * subscriptions; streams and long polls end when the server closes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { countSubscriptions, startTestServer, type TestServer } from '../helpers/server.js';

interface SseEvent {
  id: number;
  event: string;
  data: any;
}

interface SseClient {
  status: number;
  contentType: string;
  /** Non-200 answers: the JSON body. */
  body?: any;
  /** The next event, or null once the stream has ended. */
  next(): Promise<SseEvent | null>;
  /** Every event until the stream ends. */
  rest(): Promise<SseEvent[]>;
  close(): void;
}

/** A minimal EventSource over node:http (its own socket, so close() is a real disconnect). */
function openEvents(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      res.setEncoding('utf8');
      const events: SseEvent[] = [];
      const waiters: Array<(e: SseEvent | null) => void> = [];
      let ended = false;
      let buf = '';
      const push = (e: SseEvent | null) => {
        const w = waiters.shift();
        if (w) w(e);
        else if (e) events.push(e);
      };
      const finish = () => {
        if (ended) return;
        ended = true;
        while (waiters.length) waiters.shift()!(null);
      };
      let text = '';
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) {
          text += chunk;
          return;
        }
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
          const data = field('data');
          if (data !== undefined) push({ id: Number(field('id')), event: field('event') ?? 'message', data: JSON.parse(data) });
        }
      });
      res.on('end', finish);
      res.on('close', finish);
      const client: SseClient = {
        status: res.statusCode ?? 0,
        contentType: String(res.headers['content-type']),
        next: () => {
          if (events.length) return Promise.resolve(events.shift()!);
          if (ended) return Promise.resolve(null);
          return new Promise((r, j) => {
            const timer = setTimeout(() => j(new Error('no event within 10 s')), 10_000);
            waiters.push((e) => {
              clearTimeout(timer);
              r(e);
            });
          });
        },
        rest: async () => {
          const all: SseEvent[] = [];
          for (let e = await client.next(); e; e = await client.next()) all.push(e);
          return all;
        },
        close: () => req.destroy(),
      };
      if (res.statusCode === 200) return resolve(client);
      res.on('end', () => resolve({ ...client, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

async function submit(base: string, prompt: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await postJson(`${base}/v1/images/async_generate`, { prompt, size: '256x256', ...extra });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.task_id;
}

const cancel = async (base: string, id: string) => assert.equal((await postJson(`${base}/v1/images/tasks/${id}/cancel`, {})).status, 200);
const poll = async (base: string, id: string) => (await getJson(`${base}/v1/images/tasks/${id}`)).body;

function assertIncreasing(events: SseEvent[]) {
  for (let i = 1; i < events.length; i++) assert.ok(events[i].id > events[i - 1].id, `ids ${events.map((e) => e.id).join(', ')}`);
}


async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('events of running tasks', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startTestServer({ syntheticStepMs: 50 });
    base = server.url;
  });
  after(() => server.close());

  test('a live task streams its state, progress with ETA, then the poll JSON of the result', async () => {
    const id = await submit(base, 'streamed', { num_inference_steps: 20 });
    const stream = await openEvents(`${base}/v1/images/tasks/${id}/events`);
    assert.equal(stream.status, 200);
    assert.equal(stream.contentType, 'text/event-stream; charset=utf-8');
    const events = await stream.rest();
    assertIncreasing(events);
    assert.equal(events[0].event, 'state');
    const live = events.slice(0, -1);
    for (const e of live) assert.equal(e.data.status, 'processing', JSON.stringify(e));
    const progress = live.filter((e) => e.event === 'progress');
    assert.ok(progress.length >= 1, `events: ${events.map((e) => e.event).join(', ')}`);
    for (const e of progress) {
      assert.equal(e.data.stage, 'running');
      assert.equal(e.data.total_steps, 20);
      assert.ok('eta_seconds' in e.data);
    }
    const steps = progress.map((e) => e.data.step);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
    const last = events[events.length - 1];
    assert.equal(last.event, 'completed');
    assert.deepEqual(last.data, await poll(base, id));
  });

  test('a finished task answers its final event at once, also on a reconnect', async () => {
    const id = await submit(base, 'done', { num_inference_steps: 1 });
    const final = await pollTask(base, id, 10_000);
    const first = await (await openEvents(`${base}/v1/images/tasks/${id}/events`)).rest();
    assert.deepEqual(first.map((e) => e.event), ['completed']);
    assert.deepEqual(first[0].data, final);
    const again = await (await openEvents(`${base}/v1/images/tasks/${id}/events`, { 'Last-Event-ID': String(first[0].id) })).rest();
    assert.deepEqual(again.map((e) => e.event), ['completed']);
    assert.ok(again[0].id > first[0].id);
  });

  test('an unknown task is a JSON 404 with status failed', async () => {
    const res = await openEvents(`${base}/v1/images/tasks/0123456789abcdef0123456789abcdef/events`);
    assert.equal(res.status, 404);
    assert.equal(res.body.status, 'failed');
    assert.equal(res.body.error.code, 'task_not_found');
  });
});

describe('events of queued tasks (no worker: tasks move only when canceled)', () => {
  let server: TestServer;
  let base: string;
  let active: () => number;
  before(async () => {
    server = await startTestServer({ worker: false });
    base = server.url;
    active = countSubscriptions(server);
  });
  after(() => server.close());

  test('queue position events, then the final canceled event, and no subscription is left', async () => {
    const [a, b, c] = [await submit(base, 'a'), await submit(base, 'b'), await submit(base, 'c')];
    const streams = [await openEvents(`${base}/v1/images/tasks/${c}/events`), await openEvents(`${base}/v1/images/tasks/${c}/events`)];
    for (const s of streams) {
      const state = await s.next();
      assert.equal(state!.event, 'state');
      assert.equal(state!.data.queue_position, 2);
    }
    assert.equal(active(), 1, 'one subscription serves every stream');
    await cancel(base, a);
    await cancel(base, b);
    await cancel(base, c);
    const final = await poll(base, c);
    for (const s of streams) {
      const rest = await s.rest();
      const seen = rest.map((e) => [e.event, e.data.queue_position]);
      if (server.queue.name === 'sqlite') {
        assert.deepEqual(seen, [['position', 1], ['position', 0], ['canceled', undefined]]);
      } else {
        // In a fleet, events cross Redis and each is answered with the record as it is then:
        // a position the queue passed through between two events may be skipped, never invented.
        const all = [['position', 1], ['position', 0], ['canceled', undefined]];
        assert.deepEqual(seen[seen.length - 1], ['canceled', undefined]);
        assert.deepEqual(seen, all.filter((e) => seen.some((x) => x[0] === e[0] && x[1] === e[1])), `in order, none invented: ${JSON.stringify(seen)}`);
      }
      assert.deepEqual(rest[rest.length - 1].data, final);
      assertIncreasing(rest);
    }
    await until('the subscription to be released', () => active() === 0);
  });

  test('a reconnect with Last-Event-ID replays what it missed; an old or foreign id gets a snapshot', async () => {
    const [a, b, c] = [await submit(base, 'a'), await submit(base, 'b'), await submit(base, 'c')];
    const url = `${base}/v1/images/tasks/${c}/events`;
    const first = await openEvents(url);
    const state = (await first.next())!;
    first.close();
    await cancel(base, a);
    await cancel(base, b);

    const replay = await openEvents(url, { 'Last-Event-ID': String(state.id) });
    const missed = [(await replay.next())!];
    while (missed[missed.length - 1].data.queue_position !== 0 && missed.length < 5) missed.push((await replay.next())!);
    replay.close();
    const seen = missed.map((e) => [e.event, e.data.queue_position]);
    if (server.queue.name === 'sqlite') {
      assert.deepEqual(seen, [['position', 1], ['position', 0]]);
    } else {
      // In a fleet the two cancels' events cross Redis and may coalesce (each answered with the
      // record as it is then): a replay of what it missed, in order and none invented, or a
      // snapshot; either way it ends at position 0.
      const all = [['position', 1], ['position', 0]];
      assert.deepEqual(seen[seen.length - 1][1], 0);
      if (seen[0][0] === 'state') assert.equal(seen.length, 1);
      else assert.deepEqual(seen, all.filter((e) => seen.some((x) => x[0] === e[0] && x[1] === e[1])), `in order, none invented: ${JSON.stringify(seen)}`);
    }
    assertIncreasing([state, ...missed]);
    const lastMissed = missed[missed.length - 1];

    for (const lastId of ['1', 'garbage']) {
      const fresh = await openEvents(url, { 'Last-Event-ID': lastId });
      const snap = (await fresh.next())!;
      fresh.close();
      assert.equal(snap.event, 'state');
      assert.equal(snap.data.queue_position, 0);
      assert.ok(snap.id > lastMissed.id);
    }

    await cancel(base, c);
    const after = await (await openEvents(url, { 'Last-Event-ID': String(lastMissed.id) })).rest();
    assert.deepEqual(after.map((e) => e.event), ['canceled']);
    assert.ok(after[0].id > lastMissed.id);
    await until('the subscription to be released', () => active() === 0);
  });

  test('a client further behind than the ring gets a snapshot instead of a partial replay', async () => {
    const ahead: string[] = [];
    for (let i = 0; i < 35; i++) ahead.push(await submit(base, `ahead ${i}`));
    const target = await submit(base, 'target');
    const url = `${base}/v1/images/tasks/${target}/events`;
    const first = await openEvents(url);
    const state = (await first.next())!;
    first.close();
    assert.equal(state.data.queue_position, 35);
    for (const id of ahead) await cancel(base, id); // 35 position events: more than the ring keeps

    const late = await openEvents(url, { 'Last-Event-ID': String(state.id) });
    if (server.queue.name === 'sqlite') {
      const snap = (await late.next())!;
      late.close();
      assert.equal(snap.event, 'state');
      assert.equal(snap.data.queue_position, 0);
    } else {
      // In a fleet the 35 cancels' events cross Redis and may coalesce (each is answered with
      // the record as it is then), so the ring may or may not have overflowed by now: the
      // client gets a snapshot, or a replay of what it missed; either way it ends at position 0.
      const got = [(await late.next())!];
      while (got[got.length - 1].data.queue_position !== 0 && got.length < 40) got.push((await late.next())!);
      late.close();
      if (got[0].event === 'state') assert.equal(got.length, 1);
      else for (const e of got) assert.equal(e.event, 'position');
      assert.equal(got[got.length - 1].data.queue_position, 0);
    }
    await cancel(base, target);
    await until('the subscription to be released', () => active() === 0);
  });
});

test('closing the server ends open event streams and long polls', { timeout: 20_000 }, async () => {
  const server = await startTestServer({ worker: false });
  const waiting = countSubscriptions(server);
  const id = await submit(server.url, 'waiting');
  const stream = await openEvents(`${server.url}/v1/images/tasks/${id}/events`);
  assert.equal((await stream.next())!.event, 'state');
  const longPoll = new Promise<{ status: number; body: any }>((resolve, reject) => {
    http.get(`${server.url}/v1/images/tasks/${id}?wait=60`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
  await until('the long poll to wait', () => waiting() === 2); // the stream's channel + the long poll
  await server.close();
  assert.equal(await stream.next(), null);
  const answered = await longPoll;
  assert.equal(answered.status, 200);
  assert.equal(answered.body.status, 'processing');
});
