/** Webhook signatures per Standard Webhooks, and where the secret comes from. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config.js';
import { loadWebhookSecret, secretKey, signature, signedHeaders } from '../../src/webhooks/signing.js';
import { tempDir } from '../helpers/server.js';

describe('webhook signing', () => {
  test('matches the published Standard Webhooks test vector', () => {
    // From the Standard Webhooks specification's reference test suite.
    const key = secretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    assert.equal(
      signature(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  test('headers carry id, timestamp and v1 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed by the decoded whsec_ bytes', () => {
    const raw = Buffer.from('0123456789abcdef0123456789abcdef');
    const body = Buffer.from('{"task_id":"x","status":"completed"}');
    const headers = signedHeaders(secretKey(`whsec_${raw.toString('base64')}`), 'msg_1', 1700000000, body);
    const expected = createHmac('sha256', raw).update(`msg_1.1700000000.${body.toString()}`).digest('base64');
    assert.deepEqual(headers, { 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': `v1,${expected}` });
  });

  test('a secret without the whsec_ prefix is used as its UTF-8 bytes', () => {
    const expected = createHmac('sha256', Buffer.from('plain secret ✓')).update('m.1.{}').digest('base64');
    assert.equal(signature(secretKey('plain secret ✓'), 'm', 1, '{}'), `v1,${expected}`);
  });

  test('a whsec_ secret that is not base64 is a configuration error', () => {
    assert.throws(() => secretKey('whsec_not base64!'), ConfigError);
  });

  test('ZIMAGE_WEBHOOK_SECRET wins; no file is written', () => {
    const dir = tempDir();
    const secret = loadWebhookSecret('whsec_AAAA', dir);
    assert.deepEqual(secret, { key: Buffer.from([0, 0, 0]), source: 'ZIMAGE_WEBHOOK_SECRET', generated: false });
    assert.equal(fs.existsSync(path.join(dir, 'webhook-secret')), false);
  });

  test('without a configured secret, one is generated once into the data dir (mode 0600) and reused', () => {
    const dir = tempDir();
    const first = loadWebhookSecret('', dir);
    const file = path.join(dir, 'webhook-secret');
    assert.equal(first.generated, true);
    assert.equal(first.source, file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const stored = fs.readFileSync(file, 'utf8').trim();
    assert.match(stored, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(first.key, Buffer.from(stored.slice(6), 'base64'));
    assert.equal(first.key.length, 32);
    const second = loadWebhookSecret('', dir);
    assert.equal(second.generated, false);
    assert.deepEqual(second.key, first.key);
  });
});
