/**
 * Poll throughput: GET /v1/images/tasks/{id} of a completed task (url format) on the real
 * server, against a bare node:http server sending the same bytes. Server, baseline and
 * load generator are three processes; runs alternate (bare, server, bare, server, ...) so
 * drift in the shared machine's load hits both sides alike.
 */
import fs from 'node:fs';
import http from 'node:http';
import { ZImageClient, type GenerateParams } from '../src/client/index.js';
import { httpRequest, SMALL_TASK } from './helpers.js';
import { forkChild } from './ipc.js';
import type { LoadResult } from './loadgen.js';

export interface PollOptions {
  rounds: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface PollRun extends LoadResult {
  target: 'bare' | 'server';
  /** CPU the server (or baseline) used over the run, as a share of one core. */
  serverCpu: number;
  /** Server CPU time per answered request, in µs: independent of whether the generator was the bottleneck. */
  cpuUsPerRequest: number;
}

export interface PollReport {
  bodyBytes: number;
  runs: PollRun[];
  bareRps: number;
  serverRps: number;
  ratio: number;
  bareCpuUs: number;
  serverCpuUs: number;
  /** Server CPU per request over bare CPU per request. */
  cpuRatio: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);

export async function benchPoll(opts: PollOptions): Promise<PollReport> {
  const server = forkChild('benchServer', ['{}']);
  const children = [server];
  let dataDir: string | undefined;
  try {
    const { url: base, dataDir: dir } = await server.ready;
    dataDir = dir;
    // Setting up goes through the typed client; the measured requests below do not.
    const client = new ZImageClient({ url: base });
    const { task_id: id } = await client.generate(SMALL_TASK as GenerateParams);
    await client.wait(id);
    const agent = new http.Agent({ keepAlive: true });
    const path = `/v1/images/tasks/${id}`;
    const answer = await httpRequest(agent, base + path);
    agent.destroy();
    const json = JSON.parse(answer.body.toString());
    if (answer.status !== 200 || json.status !== 'completed' || !json.data?.[0]?.url) {
      throw new Error(`expected a completed url task, got ${answer.status} ${answer.body}`);
    }
    const bare = forkChild('bareServer', [answer.body.toString('base64')]);
    children.push(bare);
    const loadgen = forkChild('loadgen');
    children.push(loadgen);
    const [{ url: bareBase }] = await Promise.all([bare.ready, loadgen.ready]);

    const runs: PollRun[] = [];
    for (let i = 0; i < opts.rounds * 2; i++) {
      const target = i % 2 === 0 ? 'bare' : 'server';
      const child = target === 'bare' ? bare : server;
      const cpu0 = (await child.call<number>('cpu'));
      const t0 = performance.now();
      const result = await loadgen.call<LoadResult>('run', {
        base: target === 'bare' ? bareBase : base, paths: [path],
        connections: opts.connections, warmupMs: opts.warmupMs, durationMs: opts.durationMs,
      });
      const serverCpu = ((await child.call<number>('cpu')) - cpu0) / (performance.now() - t0);
      if (result.non200 || result.errors) throw new Error(`${target} run had ${result.non200} non-200 answers and ${result.errors} errors`);
      // The CPU reading spans the warm-up too; at a steady rate the share per request is the same.
      runs.push({ target, ...result, serverCpu, cpuUsPerRequest: (serverCpu / result.rps) * 1e6 });
    }
    const of = (t: string, f: (r: PollRun) => number) => mean(runs.filter((r) => r.target === t).map(f));
    const [bareRps, serverRps] = [of('bare', (r) => r.rps), of('server', (r) => r.rps)];
    const [bareCpuUs, serverCpuUs] = [of('bare', (r) => r.cpuUsPerRequest), of('server', (r) => r.cpuUsPerRequest)];
    return {
      bodyBytes: answer.body.length, runs, bareRps, serverRps, ratio: serverRps / bareRps,
      bareCpuUs, serverCpuUs, cpuRatio: serverCpuUs / bareCpuUs,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
