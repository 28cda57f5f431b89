/**
 * A log destination that fails never stops the server: `zimage serve` as a real subprocess whose
 * stdout is a file on a full file system (ENOSPC), a pipe whose reader has gone (EPIPE), or a
 * pipe nobody reads (EAGAIN once it is full). Each time it keeps answering, runs a task to the
 * end, counts the failed writes in /health, and still shuts down cleanly on SIGTERM (pino's own
 * destination threw on ENOSPC and then hung in its exit hook, retrying the write forever).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { getJson, pollTask, postJson } from '../helpers/http.js';
import { CLI, tempDir } from '../helpers/server.js';
import { mountTmpfs, type Tmpfs } from './tmpfs.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Started {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | string>;
}

/** `zimage serve` with the given stdout; resolves once /health answers (the URL cannot be read from a stdout that fails). */
async function serve(stdout: number | 'pipe'): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_SYNTHETIC_STEP_MS: '0',
      ZIMAGE_DATA_DIR: tempDir(), ZIMAGE_LOG_FORMAT: 'json', ZIMAGE_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', stdout, 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not come up (exit ${child.exitCode}):\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, child, stderr: () => err, exited };
}

/** Serves, runs a task to the end, and stops on SIGTERM with exit code 0: the log's fate must not matter. */
async function keepsServing(server: Started, expectErrors: boolean): Promise<void> {
  try {
    // Enough lines that a pipe's buffer fills: each request is an access-log line.
    await Promise.all(Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 40; i++) assert.equal((await fetch(`${server.url}/health`)).status, 200);
    }));
    const submitted = await postJson(`${server.url}/v1/images/async_generate`, { prompt: 'logged into the void', size: '256x256' });
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
    assert.equal((await pollTask(server.url, submitted.body.task_id)).status, 'completed');
    const health = (await getJson(`${server.url}/health`)).body;
    assert.equal(health.status, 'ok');
    if (expectErrors) assert.ok(health.logs.write_errors > 0, `log write failures are counted: ${JSON.stringify(health.logs)}`);
  } finally {
    server.child.kill('SIGTERM');
  }
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([server.exited, new Promise((r) => { timer = setTimeout(() => r('still running 15 s after SIGTERM'), 15_000); })]);
  clearTimeout(timer);
  if (code !== 0) server.child.kill('SIGKILL');
  server.child.stdout?.destroy(); // a paused pipe would hold this test process open
  assert.equal(code, 0, `exit after SIGTERM; stderr:\n${server.stderr()}`);
}

const disk = mountTmpfs(1);
after(() => { if ('dir' in disk) disk.unmount(); });

test('stdout on a full file system (ENOSPC)', { skip: 'skip' in disk ? disk.skip : false }, async () => {
  const tmpfs = disk as Tmpfs;
  tmpfs.fill();
  const fd = fs.openSync(path.join(tmpfs.dir, 'server.log'), 'a');
  try {
    await keepsServing(await serve(fd), true);
  } finally {
    fs.closeSync(fd);
  }
});

test('stdout a pipe whose reader has gone (EPIPE)', async () => {
  const server = await serve('pipe');
  server.child.stdout!.destroy();
  await keepsServing(server, true);
});

test('stdout a pipe nobody reads (full: EAGAIN)', async () => {
  const server = await serve('pipe');
  server.child.stdout!.pause(); // never read: the pipe fills up
  await keepsServing(server, true);
});
