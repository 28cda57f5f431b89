/**
 * Child-process entry: a closed-loop HTTP load generator. N connections (a keep-alive
 * node:http Agent with N sockets), each sending the next GET as soon as the previous
 * answer is read in full, for a warm-up and then a fixed measured window. Only answers
 * that arrive inside the window count. Calls: run, close.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentiles, type Percentiles } from './helpers.js';
import { announceReady, cpuMs, serveCalls } from './ipc.js';

export interface LoadSpec {
  /** Base URL of the server under test. */
  base: string;
  /** Request paths; each request takes one at random (a single path: always that one). */
  paths: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  non200: number;
  errors: number;
  /** Mean body size, to show both servers sent the same bytes. */
  meanBytes: number;
  latencyMs: Percentiles;
  /** CPU this generator used over the whole run, as a share of one core (1 = 100%). */
  generatorCpu: number;
}

function get(agent: http.Agent, host: string, port: string, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host, port, path, method: 'GET' }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const { hostname, port } = new URL(spec.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
  const start = performance.now();
  const cpuStart = cpuMs();
  const from = start + spec.warmupMs;
  const end = from + spec.durationMs;
  let requests = 0;
  let non200 = 0;
  let errors = 0;
  let bytes = 0;
  const latencies: number[] = [];
  const pick = spec.paths.length === 1 ? () => spec.paths[0] : () => spec.paths[Math.floor(Math.random() * spec.paths.length)];

  const connection = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      try {
        const res = await get(agent, hostname, port, pick());
        const done = performance.now();
        if (done < from || done > end) continue;
        requests++;
        bytes += res.bytes;
        if (res.status !== 200) non200++;
        latencies.push(done - sent);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, connection));
  const wall = performance.now() - start;
  const generatorCpu = (cpuMs() - cpuStart) / wall;
  agent.destroy();
  return {
    requests,
    rps: requests / (spec.durationMs / 1000),
    non200,
    errors,
    meanBytes: requests ? bytes / requests : 0,
    latencyMs: percentiles(latencies),
    generatorCpu,
  };
}

serveCalls({ run });
announceReady({ pid: process.pid });
