/**
 * Log format: readable lines on a terminal (a real pseudo-terminal from util-linux `script`
 * where it is installed), JSON lines otherwise, and ZIMAGE_LOG_FORMAT to choose.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { formatLine } from '../../src/logPretty.js';
import { CLI, ROOT, tempDir } from '../helpers/server.js';

const LOG_MODULE = path.join(ROOT, 'dist/src/log.js');
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** A one-off script that logs two lines through createLogger('info', format); returns its path. */
function logScript(format: string): string {
  const file = path.join(tempDir('zimage-logfmt-'), 'log.mjs');
  fs.writeFileSync(file, `import { createLogger } from ${JSON.stringify(pathToFileURL(LOG_MODULE).href)};\n`
    + `const log = createLogger('info', ${JSON.stringify(format)});\n`
    + 'log.info({ task: "abc123", n: 2 }, "task completed");\n'
    + 'log.error({ err: new Error("disk on fire") }, "could not store");\n');
  return file;
}

describe('log format', () => {
  test('formatLine: time, level, message and fields on one line; an error\'s stack below; other text untouched', () => {
    const line = JSON.stringify({ level: 30, time: '2026-01-02T03:04:05.678Z', pid: 7, msg: 'zimage server listening', url: 'http://127.0.0.1:8003', engine: 'synthetic', queue: { queued: 0 } });
    const out = formatLine(line, false);
    assert.match(out, /^\d\d:\d\d:\d\d\.678 INFO  zimage server listening {2}url=http:\/\/127\.0\.0\.1:8003 engine=synthetic queue=\{"queued":0\}\n$/);
    assert.ok(!out.includes('pid'), 'pid and hostname are left out');
    const err = formatLine(JSON.stringify({ level: 50, time: 0, msg: 'boom', err: { type: 'Error', message: 'bad', stack: 'Error: bad\n    at x (y.js:1:1)', code: 'EIO' } }), false);
    assert.match(err, /ERROR boom\n {4}Error: bad\n {8}at x \(y\.js:1:1\) \(code EIO\)\n$/);
    assert.equal(formatLine('not json', false), 'not json');
    const colored = formatLine(line, true);
    assert.notEqual(colored, out);
    assert.equal(colored.replace(ANSI, ''), out);
  });

  test('JSON lines when stdout is not a terminal (auto), readable lines with ZIMAGE_LOG_FORMAT=pretty', () => {
    const auto = spawnSync(process.execPath, [logScript('auto')], { encoding: 'utf8' });
    const lines = auto.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) JSON.parse(l);
    const pretty = spawnSync(process.execPath, [logScript('pretty')], { encoding: 'utf8' });
    assert.match(pretty.stdout, /INFO {2}task completed {2}task=abc123 n=2\n/);
    assert.match(pretty.stdout, /ERROR could not store\n {4}Error: disk on fire\n/);
    assert.ok(!pretty.stdout.includes('\x1b['), 'no colors when the output is not a terminal');
  });

  test('readable, colored lines on a real terminal (auto); ZIMAGE_LOG_FORMAT=json keeps JSON there', (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('util-linux `script` is not installed: no pseudo-terminal to test with');
      return;
    }
    const onTty = (format: string) => spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(logScript(format))}`, '/dev/null'], {
      encoding: 'utf8', env: { ...process.env, NO_COLOR: '' },
    }).stdout;
    const auto = onTty('auto');
    assert.ok(auto.includes('\x1b['), `colored: ${JSON.stringify(auto)}`);
    assert.match(auto.replace(ANSI, ''), /INFO {2}task completed {2}task=abc123 n=2/);
    const json = onTty('json');
    assert.match(json, /^\{"level":30/m);
  });

  test('zimage serve reads ZIMAGE_LOG_FORMAT', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_DATA_DIR: tempDir(), ZIMAGE_LOG_FORMAT: 'pretty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 20 s:\n${out}`)), 20_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('zimage server listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await exited;
    assert.match(out, /INFO {2}zimage server listening {2}url=http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(!out.split('\n').some((l) => l.startsWith('{')), `no JSON lines:\n${out}`);
  });
});
