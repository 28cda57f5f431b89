/**
 * A transient local fault while a task stores its images does not spend its attempts: `zimage
 * serve` runs as a subprocess with a small descriptor limit (ulimit -n), and while its engine
 * works the test holds open connections until every descriptor is taken, so storing the images
 * fails with EMFILE. The task is handed back (logged), and once the connections close it runs
 * again after its backoff and completes with one attempt spent, with ZIMAGE_MAX_ATTEMPTS=1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { pollTask, postJson } from '../helpers/http.js';
import { CLI, tempDir } from '../helpers/server.js';

const FD_LIMIT = 256;

const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Opens connections to port until the process has no descriptor left (or `max` are open). */
async function exhaustDescriptors(port: number, pid: number, max: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  while (sockets.length < max && openFds(pid) < FD_LIMIT) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined); // the ones past the limit are closed by the server (libuv's EMFILE trick)
    await new Promise((resolve) => { socket.once('connect', resolve); socket.once('close', resolve); });
    sockets.push(socket);
    await new Promise((r) => setTimeout(r, 5)); // let the server accept it
  }
  return sockets;
}

test('EMFILE while storing images: the task is handed back and completes later with its attempt kept',
  { skip: process.platform !== 'linux' ? 'needs /proc to count the server\'s descriptors (Linux)' : false }, async () => {
    const child = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, CLI, 'serve'], {
      env: {
        ...process.env, PORT: '0', HOST: '127.0.0.1', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_DATA_DIR: tempDir(),
        // Slow enough steps that the descriptors are all taken before the images are stored.
        ZIMAGE_SYNTHETIC_STEP_MS: '500', ZIMAGE_MAX_ATTEMPTS: '1', ZIMAGE_LOG_FORMAT: 'json', ZIMAGE_ACCESS_LOG: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const waitFor = async (what: string, re: RegExp, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${what} in the server's output:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return re.exec(out)!;
    };
    let sockets: net.Socket[] = [];
    try {
      const url = (await waitFor('url', /"url":"(http:\/\/[^"]+)"/))[1];
      const port = Number(new URL(url).port);
      const submitted = await postJson(`${url}/v1/images/async_generate`, { prompt: 'stored later', size: '256x256', n: 1 });
      assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
      const id = submitted.body.task_id as string;

      sockets = await exhaustDescriptors(port, child.pid!, FD_LIMIT * 2);
      assert.ok(openFds(child.pid!) >= FD_LIMIT - 1, `the server's descriptors are all taken (${openFds(child.pid!)} of ${FD_LIMIT})`);
      const line = await waitFor('hand-back', /\{[^\n]*transient storage fault[^\n]*\}/);
      const logged = JSON.parse(line[0]);
      assert.deepEqual([logged.task, logged.code, logged.state], [id, 'EMFILE', 'queued']);
      assert.ok(logged.retryInMs > 0, 'it waits out a backoff');

      for (const s of sockets) s.destroy(); // the descriptors are back
      sockets = [];
      const done = await pollTask(url, id, 30_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.data.length, 1);
      assert.doesNotMatch(out, /attempts_exhausted|"state":"failed"/, 'the one attempt was not spent on the fault');
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGTERM');
      await exited;
    }
  });
