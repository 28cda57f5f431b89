/**
 * Webhook signatures per the Standard Webhooks convention (standardwebhooks.com), so
 * receivers can verify them with any of its libraries:
 *   webhook-id:        unique per message, the same on every retry (receivers dedupe on it)
 *   webhook-timestamp: unix seconds of this attempt (receivers reject stale ones)
 *   webhook-signature: "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';

const PREFIX = 'whsec_';
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
export const SECRET_FILE = 'webhook-secret';

/**
 * The signing key of a secret: for `whsec_<base64>` the decoded bytes (as Standard Webhooks
 * libraries do), for any other string its UTF-8 bytes.
 */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) {
    if (!secret) throw new ConfigError('the webhook secret is empty');
    return Buffer.from(secret, 'utf8');
  }
  const encoded = secret.slice(PREFIX.length);
  if (!BASE64_RE.test(encoded) || encoded.length % 4 === 1) {
    throw new ConfigError('ZIMAGE_WEBHOOK_SECRET starts with "whsec_" but the rest is not base64; use "whsec_" + base64 of random bytes, or a plain string without the prefix');
  }
  return Buffer.from(encoded, 'base64');
}

export function signature(key: Buffer, msgId: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', key).update(`${msgId}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers for one attempt. */
export function signedHeaders(key: Buffer, msgId: string, timestamp: number, body: string | Buffer): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature(key, msgId, timestamp, body),
  };
}

export interface WebhookSecret {
  key: Buffer;
  /** Where the secret came from: "ZIMAGE_WEBHOOK_SECRET", or the file it is kept in. */
  source: string;
  /** True when this call generated the secret file. */
  generated: boolean;
}

/**
 * The configured secret, or else the one kept in the data directory, generated on first
 * use (0600, readable by the server's user only). Deliveries are therefore always signed,
 * and the generated secret stays the same across restarts.
 */
export function loadWebhookSecret(configured: string, dataDir: string): WebhookSecret {
  if (configured) return { key: secretKey(configured), source: 'ZIMAGE_WEBHOOK_SECRET', generated: false };
  const file = path.join(dataDir, SECRET_FILE);
  let generated = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      // 'wx' fails if another start created it meanwhile; that one's secret then wins.
      fs.writeFileSync(file, `${PREFIX}${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      generated = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const stored = fs.readFileSync(file, 'utf8').trim();
  try {
    return { key: secretKey(stored), source: file, generated };
  } catch (err) {
    throw new ConfigError(`the webhook secret in ${file} is not valid (${(err as Error).message}); delete the file to generate a new one, or set ZIMAGE_WEBHOOK_SECRET`);
  }
}
