/**
 * Request ids and the access log, against a real server whose pino logger writes into memory:
 * one line per request with method, route template, status, ms, request id and task id; the
 * caller's X-Request-Id is kept when sane and echoed; ZIMAGE_ACCESS_LOG=off writes none.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { getJson, pollTask, postJson, request } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  route?: string | null;
  path?: string;
  status?: number;
  ms?: number;
  task?: string;
  aborted?: boolean;
}

/** A logger at info level that keeps every line it writes. */
function memoryLog() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines, requests: () => lines.filter((l) => l.status !== undefined && l.method !== undefined) };
}

/** The access line of the request with this id, once it has been written (after the answer). */
async function lineOf(requests: () => Line[], reqId: string): Promise<Line> {
  for (let i = 0; i < 200; i++) {
    const found = requests().find((l) => l.reqId === reqId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access line for ${reqId}: ${JSON.stringify(requests())}`);
}

describe('access log and request ids', () => {
  test('one line per request: method, route template, status, ms, request id and the task id', async (t) => {
    const mem = memoryLog();
    const server = await startTestServer({ accessLog: true }, { log: mem.log });
    t.after(() => server.close());

    const submit = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'logged', size: '256x256' }, { 'x-request-id': 'client-req.42' });
    assert.equal(submit.status, 200);
    assert.equal(submit.headers.get('x-request-id'), 'client-req.42', 'a sane incoming id is kept and echoed');
    const taskId = submit.body.task_id as string;
    const submitLine = await lineOf(mem.requests, 'client-req.42');
    assert.deepEqual([submitLine.method, submitLine.route, submitLine.status, submitLine.task], ['POST', '/v1/images/async_generate', 200, taskId]);
    assert.equal(typeof submitLine.ms, 'number');
    assert.equal(submitLine.msg, 'POST /v1/images/async_generate 200');

    await pollTask(server.url, taskId);
    const poll = await getJson(`${server.url}/v1/images/tasks/${taskId}`);
    const pollId = poll.headers.get('x-request-id')!;
    assert.match(pollId, /^[0-9a-f-]{36}$/, 'without one, a random id is made and echoed');
    const pollLine = await lineOf(mem.requests, pollId);
    assert.deepEqual([pollLine.route, pollLine.status, pollLine.task], ['/v1/images/tasks/:task_id', 200, taskId]);

    const image = new URL(poll.body.data[0].url).pathname;
    const file = await request(`${server.url}${image}`, { headers: { 'x-request-id': 'img-1' } });
    assert.equal(file.status, 200);
    const fileLine = await lineOf(mem.requests, 'img-1');
    assert.equal(fileLine.route, '/outputs/:file');
    assert.ok(!JSON.stringify(fileLine).includes(image.split('/').pop()!), 'output file names (bearer links) are not logged');

    const missing = await request(`${server.url}/no/such/page?token=secret`, { headers: { 'x-request-id': 'lost-1' } });
    assert.equal(missing.status, 404);
    const missingLine = await lineOf(mem.requests, 'lost-1');
    assert.deepEqual([missingLine.route, missingLine.path, missingLine.status], [null, '/no/such/page', 404]);
  });

  test('a request the client abandons is logged and counted when it goes: 499 before an answer, its status after', async (t) => {
    const mem = memoryLog();
    const server = await startTestServer({ accessLog: true, worker: false }, { log: mem.log });
    t.after(() => server.close());
    const { body } = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'waits forever' });
    // The client goes away: a long poll before any answer, an event stream after its first event.
    const abandon = async (url: string, reqId: string, headers: Record<string, string> = {}, readFirst = false) => {
      const ac = new AbortController();
      const res = fetch(url, { signal: ac.signal, headers: { 'x-request-id': reqId, ...headers } })
        .then(async (r) => { if (readFirst) await r.body?.getReader().read(); })
        .catch(() => undefined);
      if (readFirst) await res;
      else await new Promise((r) => setTimeout(r, 200));
      ac.abort();
      await res;
      return lineOf(mem.requests, reqId);
    };
    const poll = await abandon(`${server.url}/v1/images/tasks/${body.task_id}?wait=30`, 'long-poll-1');
    assert.deepEqual([poll.route, poll.status, poll.aborted, poll.task], ['/v1/images/tasks/:task_id', 499, true, body.task_id]);
    const events = await abandon(`${server.url}/v1/images/tasks/${body.task_id}/events`, 'sse-1', { accept: 'text/event-stream' }, true);
    assert.deepEqual([events.route, events.status, events.aborted], ['/v1/images/tasks/:task_id/events', 200, true]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /zimage_http_requests_total\{method="GET",route="\/v1\/images\/tasks\/:task_id",status="499"\} 1/);
    assert.match(metrics, /zimage_http_requests_total\{method="GET",route="\/v1\/images\/tasks\/:task_id\/events",status="200"\} 1/);
  });

  test('an incoming X-Request-Id that is not a sane token is replaced, never echoed', async (t) => {
    const mem = memoryLog();
    const server = await startTestServer({ accessLog: true }, { log: mem.log });
    t.after(() => server.close());
    for (const bad of ['has spaces in it', 'x'.repeat(129), 'quote"d', 'semi;colon']) {
      const res = await request(`${server.url}/health`, { headers: { 'x-request-id': bad } });
      const echoed = res.headers.get('x-request-id')!;
      assert.notEqual(echoed, bad);
      assert.match(echoed, /^[0-9a-f-]{36}$/);
    }
  });

  test('ZIMAGE_ACCESS_LOG=off writes no request lines, and still echoes request ids', async (t) => {
    const mem = memoryLog();
    const server = await startTestServer({ accessLog: false }, { log: mem.log });
    t.after(() => server.close());
    const res = await request(`${server.url}/health`, { headers: { 'x-request-id': 'quiet-1' } });
    assert.equal(res.headers.get('x-request-id'), 'quiet-1');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(mem.requests(), []);
    assert.ok(mem.lines.some((l) => l.msg === 'zimage server listening'), 'the other logs are still written');
  });
});
