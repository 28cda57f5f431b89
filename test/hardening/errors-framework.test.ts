/**
 * Errors that Node's HTTP server and Fastify answer by themselves (unparseable requests,
 * oversized headers, Expect, a missing Host, undecodable percent-escapes, body limits) come in
 * the documented shape {"error": {"message", "type", "code", "param"}}, over a real socket; and
 * a client that goes away mid-request is not logged as a server error.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { form, request, solidPng } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface RawAnswer {
  status: number;
  head: string;
  body: any;
}

/** The first complete answer in `data` (after any "100 Continue"), or undefined while it is still arriving. */
function parseAnswer(data: string): RawAnswer | undefined {
  let rest = data;
  while (/^HTTP\/1\.1 100 /.test(rest) && rest.includes('\r\n\r\n')) rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
  const end = rest.indexOf('\r\n\r\n');
  if (end < 0 || /^HTTP\/1\.1 100 /.test(rest)) return undefined;
  const head = rest.slice(0, end);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = rest.slice(end + 4);
  if (Buffer.byteLength(body) < length) return undefined;
  let json: unknown = body;
  try {
    json = JSON.parse(body.slice(0, length));
  } catch { /* not JSON: the assertion below says so */ }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: json };
}

/** Sends bytes as they are and reads the first answer. */
function raw(port: number, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const settle = () => {
      const answer = parseAnswer(data);
      if (!answer) return false;
      socket.destroy();
      resolve(answer);
      return true;
    };
    socket.on('data', (d) => { data += d; settle(); });
    socket.on('error', (err) => { if (!settle()) reject(err); });
    socket.on('close', () => { if (!settle()) reject(new Error(`closed without a complete answer: ${JSON.stringify(data)}`)); });
    socket.write(bytes);
  });
}

const expectShape = (res: { status: number; body: any }, status: number, code: string) => {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(typeof res.body, 'object', `JSON body expected, got ${JSON.stringify(res.body)}`);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'param', 'type'], JSON.stringify(res.body));
  assert.equal(res.body.error.code, code, JSON.stringify(res.body));
  assert.ok(res.body.error.message.length > 30, 'the message says what to do');
};

describe('errors answered before any route runs', () => {
  let server: TestServer;
  let port: number;
  const lines: any[] = [];
  before(async () => {
    const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    server = await startTestServer({ maxUploadMb: 0.25 }, { log });
    port = Number(new URL(server.url).port);
  });
  after(() => server.close());

  const cases: Array<[string, string, number, string]> = [
    ['a bad percent-escape in the path', 'GET /v1/images/tasks/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_url'],
    ['a percent-escape that is no UTF-8', 'GET /outputs/%zz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_url'],
    ['headers over the limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a URL over the header limit', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
    ['an Expect the server cannot meet',
      'POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', 417, 'expectation_failed'],
    ['HTTP/1.1 without Host', 'GET /health HTTP/1.1\r\n\r\n', 400, 'missing_host'],
    ['an unknown method', 'BREW /health HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'invalid_method'],
    ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400, 'invalid_method'],
    ['a bad HTTP version', 'GET /health HTTP/7.1\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['a Content-Length that is no number', 'POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n', 400, 'invalid_content_length'],
    ['two Content-Lengths', 'POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400, 'invalid_content_length'],
    ['a broken chunked body',
      'POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'invalid_body_encoding'],
    ['a header with a bad character', 'GET /health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n', 400, 'malformed_request'],
  ];
  for (const [name, bytes, status, code] of cases) {
    test(`${name}: ${status} ${code} in the error shape`, async () => {
      expectShape(await raw(port, bytes), status, code);
    });
  }

  test('"Expect: 100-continue" still works', async () => {
    const body = '{"prompt":"a cat"}';
    const res = await raw(port, `POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'processing');
  });

  test('413 says the limit: a JSON body over 1 MiB, an upload over ZIMAGE_MAX_UPLOAD_MB', async () => {
    const big = await request(`${server.url}/v1/images/async_generate`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x'.repeat(1_100_000) }),
    });
    expectShape(big, 413, 'request_too_large');
    assert.match(big.body.error.message, /1 MiB \(1048576 bytes\)/);
    const upload = await request(`${server.url}/v1/images/async_edit`, {
      method: 'POST', body: form({ prompt: 'p' }, { image: { data: Buffer.concat([await solidPng(64, 64, [1, 2, 3]), Buffer.alloc(300 * 1024)]) } }),
    });
    expectShape(upload, 413, 'file_too_large');
    assert.match(upload.body.error.message, /0\.25 MiB/);
  });

  test('a client that resets mid-upload is logged at debug as gone, never as a 500', async () => {
    const before = lines.length;
    for (const bytes of [
      'POST /v1/images/async_edit HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n' +
        '--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nabcdef',
      'POST /v1/images/async_generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prompt":',
    ]) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
      // A round trip on another connection: by then the server has read the half request.
      await request(`${server.url}/health`);
      socket.resetAndDestroy();
      await new Promise((r) => socket.once('close', r));
    }
    // The server has seen both resets once it answers again and the log holds their lines.
    const deadline = Date.now() + 5000;
    while (lines.slice(before).filter((l) => /went away/.test(l.msg)).length < 2 && Date.now() < deadline) {
      await request(`${server.url}/health`);
    }
    const logged = lines.slice(before);
    assert.ok(logged.filter((l) => /went away/.test(l.msg)).length >= 2, JSON.stringify(logged.map((l) => l.msg)));
    assert.deepEqual(logged.filter((l) => l.level >= 50), [], 'no error-level line for a client that went away');
    assert.ok(!logged.some((l) => l.status === 500 || l.statusCode === 500), 'no 500 logged');
    assert.equal((await request(`${server.url}/health`)).status, 200);
  });
});
