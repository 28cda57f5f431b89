import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

test('defaults match the README: port 8003 on 0.0.0.0, ./data, auto engine', () => {
  const c = loadConfig({}, []);
  assert.equal(c.port, 8003);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.dataDir, path.resolve('./data'));
  assert.equal(c.engine, 'auto');
  assert.equal(c.publicUrl, '');
  assert.equal(c.worker, true);
});

test('env vars are read, flags win over them, and --no-worker switches the worker off', () => {
  const c = loadConfig({ PORT: '9000', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_SYNTHETIC_STEP_MS: '0' }, ['--port', '9100', '--no-worker', '--public-url=https://img.example.com/']);
  assert.deepEqual([c.port, c.engine, c.syntheticStepMs, c.worker, c.publicUrl], [9100, 'synthetic', 0, false, 'https://img.example.com']);
});

test('bad values fail with a message naming the variable and what it accepts', () => {
  const cases: Array<[Record<string, string>, string[], RegExp]> = [
    [{ PORT: 'eighty' }, [], /PORT.*integer/],
    [{ PORT: '70000' }, [], /PORT.*between 0 and 65535/],
    [{ ZIMAGE_ENGINE: 'gpu' }, [], /ZIMAGE_ENGINE.*auto, synthetic, diffusers/],
    [{ ZIMAGE_WORKER: 'maybe' }, [], /ZIMAGE_WORKER.*true or false/],
    [{ ZIMAGE_PUBLIC_URL: 'ftp://x' }, [], /ZIMAGE_PUBLIC_URL must be an http\(s\) URL/],
    [{}, ['--bogus'], /unknown option --bogus/],
    [{}, ['--port'], /--port needs a value/],
  ];
  for (const [env, argv, re] of cases) assert.throws(() => loadConfig(env, argv), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message));
});
