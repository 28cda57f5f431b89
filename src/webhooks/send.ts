/**
 * One webhook POST over node:http/https, connecting only to addresses the policy vetted.
 * No redirects are followed (a 3xx is a failed attempt): a redirect could lead anywhere.
 * No connection reuse, so a socket opened for an earlier resolution is never used again.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { TargetAddress } from './addressPolicy.js';

export interface PostResult {
  statusCode: number;
  /** The start of the response body, for the attempt log (receivers often say what went wrong). */
  snippet: string;
}

const SNIPPET_BYTES = 200;

/** A lookup that answers with the vetted addresses only, whatever DNS says now. */
function pinnedLookup(addresses: TargetAddress[]): LookupFunction {
  return ((hostname: string, options: { family?: number | string; all?: boolean }, callback: (...args: unknown[]) => void) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    const list = family ? addresses.filter((a) => a.family === family) : addresses;
    if (list.length === 0) {
      const err = Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' });
      return callback(err, options.all ? [] : '', 0);
    }
    if (options.all) return callback(null, list.map((a) => ({ address: a.address, family: a.family })));
    callback(null, list[0].address, list[0].family);
  }) as unknown as LookupFunction;
}

/**
 * POSTs body to url, connecting to `addresses`. Resolves with the status code for any answer
 * (2xx or not); rejects on network errors and when `signal` aborts (timeout or shutdown).
 */
export function postWebhook(
  url: URL, addresses: TargetAddress[], headers: Record<string, string>, body: Buffer, signal: AbortSignal,
): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: 'POST',
      agent: false,
      lookup: pinnedLookup(addresses),
      signal,
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'zimage-server-webhook/1',
        ...headers,
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept < SNIPPET_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      res.on('end', () => {
        const snippet = Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8').replace(/\s+/g, ' ').trim();
        resolve({ statusCode: res.statusCode ?? 0, snippet });
      });
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('the connection closed before the response ended'));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
