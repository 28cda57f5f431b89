/**
 * The signing secret by mode: a fleet refuses to start without a shared ZIMAGE_WEBHOOK_SECRET
 * (a secret generated per data directory would differ per node); embedded mode generates one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../src/config.js';
import { LocalStorage } from '../../src/storage/local.js';
import { createWebhooks, type WebhookDeps } from '../../src/webhooks/index.js';
import type { WebhookStore } from '../../src/webhooks/store.js';
import { loopbackConfig } from '../helpers/server.js';

/** Construction never touches these: the dispatcher is not started. */
const unused = new Proxy({}, { get: () => { throw new Error('not used at construction'); } });

function deps(fleet: boolean, webhookSecret: string): WebhookDeps {
  const config = loopbackConfig({ webhookSecret });
  return {
    store: unused as WebhookStore, tasks: unused as WebhookDeps['tasks'], events: unused as WebhookDeps['events'],
    storage: new LocalStorage(config.dataDir), config, log: pino({ level: 'silent' }), fleet,
  };
}

test('fleet mode without ZIMAGE_WEBHOOK_SECRET: a ConfigError that says why and how to set it', () => {
  const d = deps(true, '');
  try {
    assert.throws(() => createWebhooks(d), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /fleet mode needs ZIMAGE_WEBHOOK_SECRET/);
      assert.match(err.message, /every API node .* same key, so that receivers can verify a delivery from any node/);
      assert.match(err.message, /whsec_/);
      return true;
    });
    assert.equal(fs.existsSync(path.join(d.config.dataDir, 'webhook-secret')), false, 'no per-node secret is generated');
  } finally {
    fs.rmSync(d.config.dataDir, { recursive: true, force: true });
  }
});

test('fleet mode with a shared secret, and embedded mode without one (generated in the data directory), build a dispatcher', () => {
  for (const d of [deps(true, 'whsec_c2hhcmVkLXNlY3JldA=='), deps(false, '')]) {
    try {
      assert.ok(createWebhooks(d));
      assert.equal(fs.existsSync(path.join(d.config.dataDir, 'webhook-secret')), !d.fleet);
    } finally {
      fs.rmSync(d.config.dataDir, { recursive: true, force: true });
    }
  }
});
