/**
 * API keys from ZIMAGE_API_KEYS_FILE beside ZIMAGE_API_KEYS, swapped at run time (SIGHUP in a
 * real `zimage serve`; a bad file keeps the keys in use), and what start-up says about auth and
 * about the environment (unknown ZIMAGE_* variables, the clients' ZIMAGE_API_KEY on a server).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, environmentWarnings } from '../../src/config.js';
import { parseKeyFile } from '../../src/http/apiKeys.js';
import { reloadApiKeys } from '../../src/http/auth.js';
import { request } from '../helpers/http.js';
import { spawnServer, startTestServer, tempDir, type SpawnedServer, type TestServer } from '../helpers/server.js';

const list = (base: string, key?: string) =>
  request(`${base}/v1/images/tasks`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

/** Polls until `ok` holds or the deadline passes (a bound on waiting, not a timed assertion). */
async function eventually(ok: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`still not so after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the key file format', () => {
  test('one name:key a line; blank lines and # comments are skipped', () => {
    const text = '# team keys\n\nalice:sk-alice-1\n  bob : sk-bob-2   # rotated in May\r\ncarol:sk#not-a-comment\n';
    assert.deepEqual(parseKeyFile(text, 'keys.txt'), [
      { name: 'alice', key: 'sk-alice-1' }, { name: 'bob', key: 'sk-bob-2' }, { name: 'carol', key: 'sk#not-a-comment' },
    ]);
  });

  test('mistakes name the file and line', () => {
    for (const [text, line] of [['alice:k1\nbare-key\n', 2], ['alice:k1\nalice:k2', 2], ['a:k1\nb:k1', 2], ['bad name:k', 1]] as const) {
      assert.throws(() => parseKeyFile(text, 'keys.txt'), (err: Error) => err instanceof ConfigError && err.message.startsWith(`keys.txt line ${line}`), text);
    }
  });
});

describe('ZIMAGE_API_KEYS_FILE in a running server', () => {
  let server: TestServer;
  let file: string;
  const lines: any[] = [];
  before(async () => {
    file = path.join(tempDir(), 'keys.txt');
    fs.writeFileSync(file, '# keys\nalice:alice-key-0001\n');
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    server = await startTestServer({ worker: false, apiKeys: 'ops:ops-key-0001', apiKeysFile: file }, { log });
  });
  after(() => server.close());

  test('keys from the file and from ZIMAGE_API_KEYS both work; start-up says auth is on', async () => {
    assert.equal((await list(server.url, 'alice-key-0001')).status, 200);
    assert.equal((await list(server.url, 'ops-key-0001')).status, 200);
    assert.equal((await list(server.url)).status, 401);
    assert.equal((await list(server.url, 'nope')).status, 401);
    assert.ok(lines.some((l) => l.auth === 'on' && l.keys === 2 && /API key auth is on: 2 keys/.test(l.msg)), JSON.stringify(lines.map((l) => l.msg)));
  });

  test('a reload swaps the keys at once: added ones work, removed ones are refused, no restart', async () => {
    fs.writeFileSync(file, 'bob:bob-key-0002\n');
    assert.equal(reloadApiKeys(server.app), true);
    assert.equal((await list(server.url, 'bob-key-0002')).status, 200);
    assert.equal((await list(server.url, 'alice-key-0001')).status, 401);
    assert.equal((await list(server.url, 'ops-key-0001')).status, 200, 'ZIMAGE_API_KEYS stays');
    assert.ok(lines.some((l) => /API keys reloaded/.test(l.msg) && l.added[0] === 'bob' && l.removed[0] === 'alice'));
  });

  test('a file that does not parse (or is gone) keeps the keys in use and logs an error', async () => {
    for (const broken of ['bob:bob-key-0002\nthis line has no key\n', 'ops:ops-key-0001\n', null]) {
      if (broken === null) fs.rmSync(file);
      else fs.writeFileSync(file, broken);
      const errorsBefore = lines.filter((l) => l.level >= 50).length;
      assert.equal(reloadApiKeys(server.app), false);
      assert.equal(lines.filter((l) => l.level >= 50).length, errorsBefore + 1, 'one error line');
      assert.match(lines.filter((l) => l.level >= 50).pop().msg, /API keys NOT reloaded/);
      assert.equal((await list(server.url, 'bob-key-0002')).status, 200, 'the old keys still work');
    }
  });

  test('a key file that holds no key refuses everyone (auth stays on), until keys arrive', async () => {
    fs.writeFileSync(file, '# nobody yet\n');
    assert.equal(reloadApiKeys(server.app), true);
    assert.equal((await list(server.url, 'bob-key-0002')).status, 401);
    assert.equal((await list(server.url)).status, 401);
  });

  test('a server does not start with a bad key file', async () => {
    const bad = path.join(tempDir(), 'bad.txt');
    fs.writeFileSync(bad, 'just-a-key\n');
    await assert.rejects(startTestServer({ apiKeysFile: bad }), (err: Error) => err instanceof ConfigError && /bad\.txt line 1/.test(err.message));
    await assert.rejects(startTestServer({ apiKeysFile: path.join(tempDir(), 'missing.txt') }), ConfigError);
  });
});

describe('zimage serve: SIGHUP and start-up warnings (real processes)', () => {
  const spawned: SpawnedServer[] = [];
  after(async () => {
    for (const s of spawned) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  });
  const serve = async (env: Record<string, string>) => {
    const s = await spawnServer({ ZIMAGE_DATA_DIR: tempDir(), ...env });
    spawned.push(s);
    return s;
  };

  test('SIGHUP re-reads the key file; the process keeps serving', async () => {
    const file = path.join(tempDir(), 'keys.txt');
    fs.writeFileSync(file, 'alice:alice-key-0001\n');
    const s = await serve({ ZIMAGE_API_KEYS_FILE: file, ZIMAGE_WORKER: 'false' });
    assert.match(s.output(), /API key auth is on: 1 key from ZIMAGE_API_KEYS_FILE/);
    assert.equal((await list(s.url, 'alice-key-0001')).status, 200);
    fs.writeFileSync(file, 'alice:alice-key-0001\nbob:bob-key-0002\n');
    s.child.kill('SIGHUP');
    await eventually(() => /API keys reloaded: 2 keys in use/.test(s.output()), 'the reload is logged');
    assert.equal((await list(s.url, 'bob-key-0002')).status, 200);
    fs.writeFileSync(file, 'garbage without a colon\n');
    s.child.kill('SIGHUP');
    await eventually(() => /API keys NOT reloaded/.test(s.output()), 'the failed reload is logged');
    assert.equal((await list(s.url, 'bob-key-0002')).status, 200, 'the keys in use stay');
    assert.equal(s.child.exitCode, null, 'still running');
  });

  test('auth off beyond loopback is a loud warning; unknown ZIMAGE_* variables get a "did you mean"', async () => {
    const s = await serve({
      HOST: '0.0.0.0', ZIMAGE_WORKER: 'false',
      ZIMAGE_APIKEYS: 'alice:k', ZIMAGE_API_KEY: 'sk-client', ZIMAGE_MAX_QUEU: '5',
      // Read by other parts of zimage (client CLI, MCP, tests): never reported.
      ZIMAGE_URL: 'http://127.0.0.1:1', ZIMAGE_MCP_WAIT_SECONDS: '5', ZIMAGE_TEST_SOMETHING: '1',
    });
    const out = s.output();
    await eventually(() => /ZIMAGE_MAX_QUEU is set/.test(s.output()), 'the warnings are logged');
    const warnings = s.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    const text = warnings.map((w) => w.msg).join('\n');
    assert.match(out, /API KEY AUTH IS OFF and the server listens on 0\.0\.0\.0, beyond loopback/);
    assert.match(text, /ZIMAGE_APIKEYS is set, but no part of zimage reads it\. Did you mean ZIMAGE_API_KEYS\?/);
    assert.match(text, /ZIMAGE_MAX_QUEU is set, but no part of zimage reads it\. Did you mean ZIMAGE_MAX_QUEUE\?/);
    assert.match(text, /ZIMAGE_API_KEY is set, but that is the key clients send .* the server reads its keys from ZIMAGE_API_KEYS/);
    for (const quiet of ['ZIMAGE_URL', 'ZIMAGE_MCP_WAIT_SECONDS', 'ZIMAGE_TEST_SOMETHING']) assert.ok(!text.includes(quiet), quiet);
  });

  test('on loopback with auth off, start-up says so without alarm', async () => {
    const s = await serve({ ZIMAGE_WORKER: 'false' });
    assert.match(s.output(), /API key auth is off/);
    assert.doesNotMatch(s.output(), /AUTH IS OFF/);
  });
});

describe('environmentWarnings', () => {
  test('known variables and prefixes are quiet; the client key is only a hint when auth is off', () => {
    assert.deepEqual(environmentWarnings({ ZIMAGE_DATA_DIR: '/x', ZIMAGE_URL: 'u', ZIMAGE_TEST_FLEET_REDIS: 'r', PATH: '/bin' }), []);
    assert.deepEqual(environmentWarnings({ ZIMAGE_API_KEY: 'k' }, { apiKeys: 'a:b', apiKeysFile: '' }), []);
    assert.equal(environmentWarnings({ ZIMAGE_API_KEY: 'k' }, { apiKeys: '', apiKeysFile: '' }).length, 1);
    assert.match(environmentWarnings({ ZIMAGE_COMPLETELY_DIFFERENT_THING: '1' })[0], /no part of zimage reads it\. "zimage serve --help"/);
  });
});
