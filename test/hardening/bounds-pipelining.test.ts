/**
 * Pipelined requests on connections that never read their answers: GET /outputs/{file} (no API
 * key needed) and polls of a finished b64_json task (megabytes of JSON each). Before the
 * limits, a few such connections grew the server by gigabytes and held one open file per
 * request. Now one request per connection is handled at a time, a connection pipelining
 * far ahead is cut off, one not reading is dropped after the stall timeout, and a finished
 * b64_json answer is rendered once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  closedByServer, finishedTask, healthOnFreshConnection, NO_PROC, peakDuring, rawGet, rawSocket, readAnswers, sleep, startBoundsServer,
  type BoundsServer,
} from './bounds-helpers.js';

const STALL_SECONDS = 3;

describe('pipelined requests that are never read', { skip: NO_PROC }, () => {
  let server: BoundsServer;
  let outputPath: string;
  let b64Path: string;

  before(async () => {
    server = await startBoundsServer({ ZIMAGE_STALL_TIMEOUT_SECONDS: String(STALL_SECONDS) });
    // A large image (a few MB as PNG, more as base64), so every unread answer would be expensive.
    const byUrl = await finishedTask(server.url, { prompt: 'pipelines', size: '2048x2048' });
    assert.equal(byUrl.status, 'completed', JSON.stringify(byUrl));
    outputPath = new URL(byUrl.data[0].url).pathname;
    const inline = await finishedTask(server.url, { prompt: 'pipelines', size: '2048x2048', response_format: 'b64_json' });
    assert.equal(inline.status, 'completed');
    assert.ok(inline.data[0].b64_json.length > 1_000_000, 'the b64_json answer is megabytes');
    b64Path = `/v1/images/tasks/${inline.task_id}`;
  });
  after(() => server?.stop());

  test('a client that pipelines and reads gets every answer, complete and in order', async () => {
    const socket = await rawSocket(server.port);
    const paths = [outputPath, '/health', outputPath, b64Path, '/health'];
    const full = await fetch(`${server.url}${outputPath}`).then((r) => r.arrayBuffer());
    socket.write(paths.map(rawGet).join(''));
    const answers = await readAnswers(socket, paths.length, 30_000);
    socket.destroy();
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
    assert.equal(answers[0].body.length, full.byteLength);
    assert.equal(answers[2].body.length, full.byteLength);
    assert.equal(JSON.parse(answers[3].body.toString()).status, 'completed');
    assert.equal(JSON.parse(answers[1].body.toString()).status, 'ok');
  });

  for (const [what, path] of [['GET /outputs/{file}', () => outputPath], ['polls of a b64_json task', () => b64Path]] as const) {
    test(`hundreds of pipelined ${what} per connection, never read: memory and open files stay bounded`, async (t) => {
      // Warm the paths first, so the baseline includes the code and caches every request needs.
      for (let i = 0; i < 3; i++) await fetch(`${server.url}${path()}`).then((r) => r.arrayBuffer());
      const baseRss = server.rssMb();
      const baseFds = server.fds();
      const CONNECTIONS = 16;
      const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => rawSocket(server.port)));
      const flood = (async () => {
        for (const s of sockets) {
          s.pause(); // never read
          s.write(rawGet(path()).repeat(400));
        }
        await sleep(2000);
        // Meanwhile the server answers anyone else, on a new connection.
        assert.equal(await healthOnFreshConnection(server.port), 200);
      })();
      const [peakRss, peakFds] = await Promise.all([peakDuring(() => server.rssMb(), flood), peakDuring(() => server.fds(), flood)]);
      t.diagnostic(`RSS ${baseRss.toFixed(0)} → peak ${peakRss.toFixed(0)} MiB; open files ${baseFds} → peak ${peakFds}`);
      // Before: about 70 MB per connection for outputs and gigabytes for b64_json polls.
      assert.ok(peakRss - baseRss < 200, `RSS grew from ${baseRss.toFixed(0)} to ${peakRss.toFixed(0)} MiB`);
      // At most one open image per connection, besides the connection itself.
      assert.ok(peakFds <= baseFds + 2 * CONNECTIONS, `open files grew from ${baseFds} to ${peakFds}`);
      // A connection 400 requests ahead is cut off, or dropped once it has read nothing for the stall timeout.
      await Promise.all(sockets.map((s) => closedByServer(s, (STALL_SECONDS + 15) * 1000)));
      assert.equal(await healthOnFreshConnection(server.port), 200);
    });
  }

  test('a finished b64_json answer polled by many clients that do not read is rendered once, not once per client', async (t) => {
    await fetch(`${server.url}${b64Path}`).then((r) => r.arrayBuffer());
    const baseRss = server.rssMb();
    const CLIENTS = 100;
    const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => rawSocket(server.port)));
    const polls = (async () => {
      for (const s of sockets) {
        s.pause();
        s.write(rawGet(b64Path));
      }
      await sleep(1500);
    })();
    const peakRss = await peakDuring(() => server.rssMb(), polls);
    t.diagnostic(`RSS ${baseRss.toFixed(0)} → peak ${peakRss.toFixed(0)} MiB for ${CLIENTS} unread answers`);
    // Rendered per client, each answer (megabytes) would wait in its own socket: several hundred MB.
    assert.ok(peakRss - baseRss < 150, `RSS grew from ${baseRss.toFixed(0)} to ${peakRss.toFixed(0)} MiB`);
    await Promise.all(sockets.map((s) => closedByServer(s, (STALL_SECONDS + 15) * 1000)));
  });

  test('a connection a few requests ahead that stops reading is dropped after the stall timeout, freeing its file', async () => {
    const baseFds = server.fds();
    const sockets = await Promise.all(Array.from({ length: 8 }, () => rawSocket(server.port)));
    for (const s of sockets) {
      s.pause();
      s.write(rawGet(outputPath).repeat(10)); // within the pipelining backlog: kept, not cut off at once
    }
    await sleep(500);
    assert.ok(server.fds() <= baseFds + 2 * sockets.length, 'one open image per connection at most');
    await Promise.all(sockets.map((s) => closedByServer(s, (STALL_SECONDS + 15) * 1000)));
    // The server closes its ends (and the files) as it drops them.
    for (let i = 0; i < 50 && server.fds() > baseFds; i++) await sleep(100);
    assert.ok(server.fds() <= baseFds, `open files back to ${baseFds}, now ${server.fds()}`);
  });
});
