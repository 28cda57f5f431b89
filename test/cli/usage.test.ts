/**
 * The CLI's surface as a subprocess: --version, help (client and server commands), usage
 * errors (exit 2 with a pointer to help), an unreachable server (exit 3, at once), and API keys
 * (exit 4 without one; ZIMAGE_API_KEY or --api-key works).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { runCli } from './helpers.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('zimage CLI usage', () => {
  test('--version prints package.json\'s version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  });

  test('help lists client and server commands and the exit codes', async () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const r = await runCli(args);
      assert.equal(r.code, 0);
      for (const word of ['generate <prompt>', 'edit <image> <prompt>', 'wait <id>', 'tasks', 'show <id>', 'cancel <id>', 'delete <id>', 'health',
        'serve', 'serve --no-worker', 'worker', '--url URL', '--api-key KEY', 'ZIMAGE_URL', 'ZIMAGE_API_KEY', 'Exit codes:', '130']) {
        assert.ok(r.stdout.includes(word), `${args} lacks ${word}`);
      }
    }
  });

  test('help <command> and <command> --help show the same full help', async () => {
    const a = await runCli(['help', 'generate']);
    const b = await runCli(['generate', '--help']);
    const c = await runCli(['generate', '-h', '--bogus']);
    assert.equal(a.code, 0);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout, c.stdout);
    for (const word of ['Usage: zimage generate <prompt> [options]', '-o, --output FILE', '--size WxH', '--seed N', '-n, --n N', '--steps N',
      '--format png|jpeg|webp', '--negative TEXT', 'Examples:', 'Exit codes:']) {
      assert.ok(a.stdout.includes(word), `help generate lacks ${word}`);
    }
    const edit = await runCli(['help', 'edit']);
    assert.match(edit.stdout, /--strength X/);
    assert.match(edit.stdout, /--mask FILE/);
    for (const command of ['wait', 'tasks', 'show', 'cancel', 'delete', 'health', 'models']) {
      const r = await runCli([command, '--help']);
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`^Usage: zimage ${command}`), command);
    }
    const unknown = await runCli(['help', 'nope']);
    assert.equal(unknown.code, 2);
  });

  test('the server commands keep their help (the options table)', async () => {
    for (const args of [['serve', '--help'], ['help', 'serve'], ['worker', '--help']]) {
      const r = await runCli(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /serve --no-worker/);
      assert.match(r.stdout, /--synthetic-step-ms\s+ZIMAGE_SYNTHETIC_STEP_MS/);
    }
    const bad = await runCli(['serve', '--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option --bogus; run "zimage serve --help"/);
  });

  test('bad usage: exit 2, a message, and the help to read', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['generate'], /missing <prompt>.*\n.*zimage help generate/],
      [['generate', 'a cat', '--bogus'], /unknown option --bogus\n.*zimage help generate/],
      [['generate', 'a cat', '--seed', 'x'], /--seed must be a whole number/],
      [['edit', 'a.png'], /missing <prompt>.*\n.*zimage help edit/],
      [['wait'], /missing <id>.*\n.*zimage help wait/],
      [['show', 'a', 'b'], /unexpected argument "b"/],
      [['tasks', '--limit', '0'], /--limit must be 1 or more/],
      [['generte', 'x'], /unknown command "generte" \(did you mean "generate"\?\)/],
      [['--url', 'http://x', 'tasks'], /put --url after the command/],
      [['tasks', '--url', 'ftp://x'], /--url must be an http\(s\) URL/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  test('an unreachable server: exit 3 within seconds, saying where it looked', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [['generate', 'a cat'], ['tasks'], ['health'], ['wait', '0123456789abcdef0123456789abcdef']]) {
      const r = await runCli(args, { url });
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.ms < 5000, `${args.join(' ')} took ${r.ms} ms`);
      assert.match(r.stderr, new RegExp(`Cannot reach the Z-Image server at ${url}: connection refused`));
    }
    const j = await runCli(['health', '--json'], { url });
    assert.equal(JSON.parse(j.stdout).error.code, 'server_unreachable');
    const flag = await runCli(['health', '--url', url]);
    assert.equal(flag.code, 3);
  });

  describe('with API keys', () => {
    let server: TestServer;
    let cwd: string;
    before(async () => {
      server = await startTestServer({ apiKeys: 'alice:sk-alice-1' });
      cwd = tempDir('zimage-cli-');
    });
    after(async () => {
      await server.close();
      fs.rmSync(cwd, { recursive: true, force: true });
    });

    test('no key or a wrong one: exit 4; ZIMAGE_API_KEY or --api-key works', async () => {
      const none = await runCli(['generate', 'a cat', '--size', '256x256'], { url: server.url, cwd });
      assert.equal(none.code, 4, none.stderr);
      assert.match(none.stderr, /This server requires an API key/);
      assert.match(none.stderr, /--api-key KEY or set ZIMAGE_API_KEY/);
      const wrong = await runCli(['tasks'], { url: server.url, env: { ZIMAGE_API_KEY: 'sk-wrong' } });
      assert.equal(wrong.code, 4);
      assert.match(wrong.stderr, /not valid/);

      const ok = await runCli(['generate', 'a cat', '--size', '256x256', '-o', 'cat.png'], { url: server.url, cwd, env: { ZIMAGE_API_KEY: 'sk-alice-1' } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(fs.existsSync(path.join(cwd, 'cat.png')));
      const flag = await runCli(['tasks', '--api-key', 'sk-alice-1', '--json'], { url: server.url });
      assert.equal(flag.code, 0, flag.stderr);
      assert.equal(JSON.parse(flag.stdout).data.length, 1);
    });
  });
});
