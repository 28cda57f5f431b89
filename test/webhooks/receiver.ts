/**
 * A webhook receiver for tests: a real node:http server on loopback that records every
 * request and answers with scripted status codes (then 200), plus an independent
 * Standard Webhooks signature check.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Resolves once at least n requests have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0: any free one). `script` is the status of each answer in turn; 200 after it. */
export async function startReceiver(script: number[] = [], port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = script[received.length - 1] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `scripted ${status}`);
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    received,
    async waitFor(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} requests, expected ${n}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiters.push(() => { clearTimeout(timer); resolve(); });
        });
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The key of a secret the way the Standard Webhooks spec defines it, computed here independently. */
export function keyOf(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
}

/** Verifies a request per Standard Webhooks: HMAC-SHA256 over "{id}.{timestamp}.{body}", base64, "v1," prefix. */
export function verifyStandardWebhook(req: Received, secret: string): boolean {
  const id = req.headers['webhook-id'];
  const ts = req.headers['webhook-timestamp'];
  const sig = req.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return false;
  const expected = createHmac('sha256', keyOf(secret)).update(`${id}.${ts}.${req.body}`).digest('base64');
  return sig.split(' ').some((s) => s === `v1,${expected}`);
}

/** A port that nothing listens on (bound once, then released). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls GET /v1/images/tasks/{id} until its `webhook` field satisfies `done` (default: no longer pending). */
export async function waitForWebhook(
  base: string, id: string, done: (w: any) => boolean = (w) => w?.status !== 'pending', timeoutMs = 15_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/v1/images/tasks/${id}`);
    const body = await res.json() as any;
    if (done(body.webhook)) return body;
    if (Date.now() > deadline) throw new Error(`webhook of task ${id} did not settle: ${JSON.stringify(body.webhook)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
