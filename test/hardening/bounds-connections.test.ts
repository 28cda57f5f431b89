/**
 * Open connections are bounded: at ZIMAGE_MAX_CONNECTIONS a new connection closes the one idle
 * longest (or is refused when every one is busy), idle keep-alive connections close after
 * ZIMAGE_KEEP_ALIVE_TIMEOUT_SECONDS, and a connection that sends no request, or its headers
 * too slowly, is closed after the stall timeout. Before, idle connections were unbounded and
 * lived a minute or more: enough of them exhausted the file descriptors.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { closedByServer, healthOnFreshConnection, NO_PROC, rawGet, rawSocket, readAnswers, sleep, startBoundsServer, type BoundsServer } from './bounds-helpers.js';

const MAX_CONNECTIONS = 20;
const STALL_SECONDS = 2;

describe('connections are bounded', { skip: NO_PROC }, () => {
  let server: BoundsServer;

  before(async () => {
    server = await startBoundsServer({
      ZIMAGE_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      ZIMAGE_STALL_TIMEOUT_SECONDS: String(STALL_SECONDS),
      ZIMAGE_KEEP_ALIVE_TIMEOUT_SECONDS: '1',
      ZIMAGE_WORKER: 'false', // tasks stay queued, so long polls stay busy
    });
  });
  after(() => server?.stop());

  test('idle connections beyond the cap are closed, never more than the cap are open, and /health still answers', async () => {
    const baseFds = server.fds();
    const sockets: net.Socket[] = [];
    for (let i = 0; i < MAX_CONNECTIONS * 3; i++) sockets.push(await rawSocket(server.port));
    await sleep(300);
    const open = server.fds() - baseFds;
    assert.ok(open <= MAX_CONNECTIONS, `${open} connections open on the server, the cap is ${MAX_CONNECTIONS}`);
    // Closed at once, well before the stall timeout would close them.
    const closed = await Promise.allSettled(sockets.map((s) => closedByServer(s, 1000)));
    const closedNow = closed.filter((r) => r.status === 'fulfilled').length;
    assert.ok(closedNow >= MAX_CONNECTIONS * 2 - 1, `${closedNow} of the ${sockets.length} idle connections were closed at once`);
    assert.equal(await healthOnFreshConnection(server.port), 200);
    // Those that never send a request are closed after the stall timeout anyway.
    await Promise.all(sockets.map((s) => closedByServer(s, (STALL_SECONDS + 10) * 1000)));
  });

  test('at the cap with every connection busy, a new one is refused; once they finish, the server answers again', async () => {
    const res = await fetch(`${server.url}/v1/images/async_generate`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'waits forever: no worker' }),
    });
    const { task_id } = await res.json() as { task_id: string };
    const busy = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => rawSocket(server.port)));
    for (const s of busy) s.write(rawGet(`/v1/images/tasks/${task_id}?wait=60`));
    await sleep(500);
    await assert.rejects(healthOnFreshConnection(server.port), 'a connection beyond the cap is closed: all others are long polls');
    for (const s of busy) s.destroy();
    await sleep(300);
    assert.equal(await healthOnFreshConnection(server.port), 200);
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const socket = await rawSocket(server.port);
    socket.write(rawGet('/health'));
    const [answer] = await readAnswers(socket, 1, 10_000);
    assert.equal(answer.status, 200);
    await closedByServer(socket, 10_000);
  });

  test('headers sent too slowly, or never finished, get 408 and the connection is closed', async () => {
    const socket = await rawSocket(server.port);
    let received = '';
    socket.on('data', (d) => { received += d; });
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => socket.write('X-Slow: y\r\n'), 300); // progress, but the headers never end
    try {
      await closedByServer(socket, (STALL_SECONDS + 10) * 1000);
    } finally {
      clearInterval(drip);
    }
    assert.match(received, /^HTTP\/1\.1 408/);
  });
});
