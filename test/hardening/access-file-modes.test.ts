/**
 * Data files are the server user's alone: a fresh data directory, the SQLite files (with their
 * -wal and -shm), the lock, the webhook secret, and every upload and output with its sidecar are
 * created 0700 (directories) and 0600 (files), whatever the process umask lets through.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { form, pollTask, request, solidPng } from '../helpers/http.js';
import { startTestServer, tempDir } from '../helpers/server.js';

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

/** Every file and directory under root, relative, with its mode. */
function walk(root: string, rel = ''): Array<[string, number, boolean]> {
  const out: Array<[string, number, boolean]> = [];
  for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const name = path.join(rel, entry.name);
    out.push([name, modeOf(path.join(root, name)), entry.isDirectory()]);
    if (entry.isDirectory()) out.push(...walk(root, name));
  }
  return out;
}

test('a new data directory and everything in it are owner-only', { skip: process.platform === 'win32' && 'POSIX modes' }, async () => {
  const dataDir = path.join(tempDir(), 'fresh', 'data'); // does not exist yet: the server makes it
  const previous = process.umask(0o022); // the common default, which would give 0755 and 0644
  let server;
  try {
    server = await startTestServer({ dataDir });
  } finally {
    process.umask(previous);
  }
  try {
    const png = await solidPng(64, 64, [9, 90, 200]);
    const res = await request(`${server.url}/v1/images/async_edit`, {
      method: 'POST', body: form({ prompt: 'make it green', size: '256x256' }, { image: { data: png } }),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await pollTask(server.url, res.body.task_id)).status, 'completed');

    assert.equal(modeOf(dataDir), 0o700, 'the data directory');
    const entries = walk(dataDir);
    const names = entries.map(([n]) => n);
    for (const expected of ['zimage.db', 'zimage.lock', 'webhook-secret', 'outputs', 'uploads']) assert.ok(names.includes(expected), `${expected} in ${names}`);
    assert.ok(names.some((n) => n.startsWith('outputs/') && n.endsWith('.png')), 'an output image');
    assert.ok(names.some((n) => n.startsWith('uploads/')), 'the upload');
    for (const [name, mode, isDir] of entries) assert.equal(mode, isDir ? 0o700 : 0o600, `${name} is ${mode.toString(8)}`);
  } finally {
    await server.close();
  }
});
