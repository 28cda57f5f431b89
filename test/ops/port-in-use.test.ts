/**
 * Listening problems at start: a port already in use is one line on stderr and exit code 2
 * (no stack trace), and the start creates nothing: a data directory that did not exist still
 * does not. In-process, startServer rejects with a ListenError before opening any store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ListenError } from '../../src/portCheck.js';
import { startServer } from '../../src/server.js';
import { CLI, loopbackConfig, tempDir } from '../helpers/server.js';

/** A loopback port that something listens on until the returned close is called. */
async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

function runServe(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ZIMAGE_ENGINE: 'synthetic', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('port already in use', () => {
  test('zimage serve: one line on stderr, exit code 2, and no data directory left behind', async (t) => {
    const busy = await busyPort();
    t.after(() => busy.close());
    const dataDir = path.join(tempDir(), 'not-yet');
    const r = await runServe({ PORT: String(busy.port), HOST: '127.0.0.1', ZIMAGE_DATA_DIR: dataDir });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^zimage: port ${busy.port} is already in use on 127\\.0\\.0\\.1 .*--port ${busy.port + 1}`));
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    assert.equal(fs.existsSync(dataDir), false, 'the data directory was not created');
  });

  test('startServer rejects with a ListenError, and opened nothing (the same data directory starts later)', async (t) => {
    const busy = await busyPort();
    const config = loopbackConfig({ port: busy.port, dataDir: path.join(tempDir(), 'later') });
    await assert.rejects(startServer(config), (err: unknown) => err instanceof ListenError && err.code === 'EADDRINUSE');
    assert.equal(fs.existsSync(config.dataDir), false);
    await busy.close();
    const server = await startServer(config);
    t.after(() => server.close());
    assert.equal(server.url, `http://127.0.0.1:${busy.port}`);
  });
});
