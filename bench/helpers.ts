/**
 * Shared pieces of the benchmark: server configuration, a tiny keep-alive HTTP client,
 * percentiles and number formatting. Nothing here measures anything by itself.
 */
import http from 'node:http';
import type { Config } from '../src/config.js';
import { loopbackConfig, tempDir } from '../test/helpers/server.js';

/** The server as the benchmarks run it: the tests' loopback configuration (synthetic engine at 0 ms per step, silent). */
export function benchConfig(overrides: Partial<Config> = {}): Config {
  return loopbackConfig({ dataDir: overrides.dataDir ?? tempDir('zimage-bench-'), ...overrides });
}

/** The smallest ordinary task: one 256x256 PNG, answered with a URL. */
export const SMALL_TASK = { prompt: 'benchmark: a red cube on a table', size: '256x256', n: 1, output_format: 'png', response_format: 'url' };

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** One request over a keep-alive agent, body read in full. */
export function httpRequest(agent: http.Agent, url: string, method = 'GET', json?: unknown): Promise<HttpAnswer> {
  const u = new URL(url);
  const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method,
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Submits one task and returns its id; throws on anything but 200. */
export async function submitTask(agent: http.Agent, base: string, body: unknown = SMALL_TASK): Promise<string> {
  const res = await httpRequest(agent, `${base}/v1/images/async_generate`, 'POST', body);
  if (res.status !== 200) throw new Error(`submit answered ${res.status}: ${res.body.toString()}`);
  return (JSON.parse(res.body.toString()) as { task_id: string }).task_id;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { count: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] ?? NaN, mean };
}

export const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
export const mb = (bytes: number) => round(bytes / (1024 * 1024), 1);

/** Prints rows as an aligned text table. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
