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

test('ZIMAGE_STORAGE: empty means the data directory, a path is resolved, s3:// must name a bucket, other URLs are refused', () => {
  assert.equal(loadConfig({}, []).storage, '');
  assert.equal(loadConfig({ ZIMAGE_STORAGE: 'shared/images' }, []).storage, path.resolve('shared/images'));
  const s3 = loadConfig({ ZIMAGE_STORAGE: 's3://my-bucket/zimage/prod', ZIMAGE_S3_ENDPOINT: 'http://127.0.0.1:9000', ZIMAGE_S3_CHECKSUMS: 'when_required' }, ['--s3-force-path-style']);
  assert.deepEqual([s3.storage, s3.s3Endpoint, s3.s3Region, s3.s3ForcePathStyle, s3.s3Checksums, s3.outputsRedirect, s3.presignSeconds],
    ['s3://my-bucket/zimage/prod', 'http://127.0.0.1:9000', 'us-east-1', true, 'when_required', false, 3600]);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ ZIMAGE_STORAGE: 's3://' }, /ZIMAGE_STORAGE: "s3:\/\/" does not name a valid bucket: use s3:\/\/BUCKET or s3:\/\/BUCKET\/PREFIX/],
    [{ ZIMAGE_STORAGE: 's3://My_Bucket/x' }, /does not name a valid bucket/],
    [{ ZIMAGE_STORAGE: 's3://bucket/a//b' }, /unusable prefix/],
    [{ ZIMAGE_STORAGE: 's3://bucket/../x' }, /unusable prefix/],
    [{ ZIMAGE_STORAGE: 'gs://bucket' }, /ZIMAGE_STORAGE must be a directory or an s3:\/\/bucket\/prefix URL.*ZIMAGE_S3_ENDPOINT/],
    [{ ZIMAGE_S3_ENDPOINT: 'minio:9000' }, /ZIMAGE_S3_ENDPOINT must be an http\(s\) URL/],
    [{ ZIMAGE_S3_CHECKSUMS: 'never' }, /ZIMAGE_S3_CHECKSUMS.*when_supported, when_required/],
    [{ ZIMAGE_PRESIGN_SECONDS: '0' }, /ZIMAGE_PRESIGN_SECONDS.*between 1 and 604800/],
  ];
  for (const [env, re] of cases) assert.throws(() => loadConfig(env, []), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), JSON.stringify(env));
});
