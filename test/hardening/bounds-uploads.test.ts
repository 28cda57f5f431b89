/**
 * Upload bodies are bounded in time and in number: a stalled upload is cut off after the stall
 * timeout, a slow one after the request timeout (408), at most ZIMAGE_MAX_CONCURRENT_UPLOADS are
 * read at once (the others wait unread, then get 503 server_busy), and a client that goes away
 * frees its slot at once. Before, every upload was buffered at once and none ever timed out.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { form, solidPng } from '../helpers/http.js';
import { closedByServer, NO_PROC, peakDuring, rawSocket, sleep, startBoundsServer, type BoundsServer } from './bounds-helpers.js';

const STALL_SECONDS = 1.5;
const REQUEST_TIMEOUT_SECONDS = 8;
const MAX_UPLOADS = 2;
const BOUNDARY = 'zimageBoundsTest';

/** The start of an edit upload: headers announcing `declared` bytes, a prompt, and the image part's header and first bytes. */
function uploadHead(declared: number): Buffer {
  const parts = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhold on\r\n` +
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
  const headers = `POST /v1/images/async_edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
    `Content-Length: ${declared}\r\n\r\n`;
  // A PNG signature, so the upload is not refused from its first bytes.
  return Buffer.concat([Buffer.from(headers + parts), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])]);
}

/** Filler for image bytes; shared, since a socket keeps a reference to what it writes rather than a copy. */
const FILLER = Buffer.alloc(19 * 1024 * 1024, 0x5a);

/** Opens a connection, sends the head of an upload and `bytes` of its image, then nothing more. */
async function stalledUpload(port: number, bytes: number): Promise<net.Socket> {
  const socket = await rawSocket(port);
  socket.write(uploadHead(bytes + 64 * 1024));
  socket.write(FILLER.subarray(0, bytes));
  return socket;
}

/** An upload that keeps sending one byte every few hundred ms: never stalled, never done. */
async function drippingUpload(port: number): Promise<{ socket: net.Socket; received: () => string }> {
  const socket = await rawSocket(port);
  let received = '';
  socket.on('data', (d) => { received += d; });
  socket.write(uploadHead(1024 * 1024));
  const drip = setInterval(() => { if (!socket.destroyed) socket.write('z'); }, 300);
  socket.once('close', () => clearInterval(drip));
  return { socket, received: () => received };
}

describe('upload bodies are bounded', { skip: NO_PROC }, () => {
  let server: BoundsServer;
  let png: Buffer;
  const editOk = async () => {
    const res = await fetch(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form({ prompt: 'fine', size: '256x256' }, { image: { data: png } }) });
    return { status: res.status, headers: res.headers, body: await res.json() as any };
  };

  before(async () => {
    server = await startBoundsServer({
      ZIMAGE_STALL_TIMEOUT_SECONDS: String(STALL_SECONDS),
      ZIMAGE_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS),
      ZIMAGE_MAX_CONCURRENT_UPLOADS: String(MAX_UPLOADS),
    });
    png = await solidPng(64, 64, [200, 10, 10]);
    assert.equal((await editOk()).status, 200);
  });
  after(() => server?.stop());

  test('many stalled uploads: only the allowed number is read, all are cut off, and memory does not pile up', async (t) => {
    const rounds: number[] = [];
    const baseRss = server.rssMb();
    for (let round = 0; round < 2; round++) {
      // 16 uploads of 19 MB that stop: unbounded, that is 300 MB held until the clients come back (never).
      const sockets = await Promise.all(Array.from({ length: 16 }, () => stalledUpload(server.port, FILLER.length)));
      const peak = await peakDuring(() => server.rssMb(), Promise.all(sockets.map((s) => closedByServer(s, (STALL_SECONDS * 3 + REQUEST_TIMEOUT_SECONDS + 10) * 1000))));
      t.diagnostic(`round ${round}: RSS ${baseRss.toFixed(0)} → peak ${peak.toFixed(0)} MiB`);
      assert.ok(peak - baseRss < 200, `round ${round}: RSS went from ${baseRss.toFixed(0)} to ${peak.toFixed(0)} MiB`);
      await sleep(500);
      rounds.push(server.rssMb());
    }
    // What a round held is freed: later rounds do not stack on the first.
    assert.ok(rounds[1] - rounds[0] < 60, `RSS after each round: ${rounds.map((r) => r.toFixed(0)).join(', ')} MiB`);
    // Every slot is free again.
    const res = await editOk();
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('an upload beyond the cap waits, then gets 503 server_busy with Retry-After; slow uploads end with 408', async () => {
    const holders = await Promise.all(Array.from({ length: MAX_UPLOADS }, () => drippingUpload(server.port)));
    await sleep(300);
    const busy = await editOk();
    assert.equal(busy.status, 503, JSON.stringify(busy.body));
    assert.equal(busy.body.error.code, 'server_busy');
    assert.equal(busy.body.error.type, 'unavailable_error');
    assert.match(busy.body.error.message, /ZIMAGE_MAX_CONCURRENT_UPLOADS/);
    assert.ok(Number(busy.headers.get('retry-after')) > 0, 'Retry-After says when to come back');
    // The drippers never finish their bodies: the request timeout ends them with a 408 in the error shape.
    await Promise.all(holders.map((h) => closedByServer(h.socket, (REQUEST_TIMEOUT_SECONDS + 10) * 1000)));
    for (const h of holders) {
      assert.match(h.received(), /^HTTP\/1\.1 408/, h.received());
      assert.match(h.received(), /"code":"request_timeout"/);
    }
    const res = await editOk();
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('a client that goes away mid-upload frees its slot at once', async () => {
    const leavers = await Promise.all(Array.from({ length: MAX_UPLOADS }, () => stalledUpload(server.port, 4 * 1024 * 1024)));
    await sleep(300); // the server is reading them: both slots are taken
    for (const s of leavers) s.destroy();
    await sleep(200);
    // Had the slots stayed taken, this would wait and answer 503.
    const results = await Promise.all(Array.from({ length: MAX_UPLOADS }, () => editOk()));
    assert.deepEqual(results.map((r) => r.status), Array(MAX_UPLOADS).fill(200), JSON.stringify(results.map((r) => r.body)));
  });
});
