/**
 * Throughput and memory: many small tasks submitted concurrently over HTTP and run to
 * completion (tasks/s from the first submit to the last completion), then the server's
 * RSS as the number of finished tasks grows to 100,000 while clients poll random ones.
 * The server runs in a child process and reports its own memory over IPC.
 */
import fs from 'node:fs';
import http from 'node:http';
import { submitTask } from './helpers.js';
import { forkChild, type BenchChild } from './ipc.js';
import type { LoadResult } from './loadgen.js';

export interface ThroughputOptions {
  tasks: number;
  inFlight: number;
  /** Finished-task counts at which memory is read; the first is `tasks` (all through the full path). */
  checkpoints: number[];
  pollConnections: number;
  pollMs: number;
}

export interface MemoryPoint {
  finished: number;
  /** How the finished tasks beyond the HTTP-submitted ones got there. */
  via: string;
  rssMb: number;
  heapUsedMb: number;
  peakRssMb: number | null;
  /** Poll rate over random finished tasks just before the reading. */
  pollRps: number | null;
}

export interface ThroughputReport {
  tasks: number;
  inFlight: number;
  submitSeconds: number;
  acceptedPerSecond: number;
  totalSeconds: number;
  tasksPerSecond: number;
  failed: number;
  memory: MemoryPoint[];
}

const toMb = (b: number) => Math.round((b / (1024 * 1024)) * 10) / 10;

async function memoryPoint(server: BenchChild, finished: number, via: string, pollRps: number | null): Promise<MemoryPoint> {
  const m = await server.call<NodeJS.MemoryUsage & { peakRss: number | null }>('memory');
  return { finished, via, rssMb: toMb(m.rss), heapUsedMb: toMb(m.heapUsed), peakRssMb: m.peakRss === null ? null : toMb(m.peakRss), pollRps };
}

/** Submits `count` tasks with `inFlight` requests outstanding at a time; returns their ids. */
async function submitAll(base: string, count: number, inFlight: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  const ids: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      ids.push(await submitTask(agent, base));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  agent.destroy();
  return ids;
}

export async function benchThroughput(opts: ThroughputOptions): Promise<ThroughputReport> {
  const server = forkChild('benchServer', [JSON.stringify({ maxQueue: opts.tasks + 1000 })]);
  const children: BenchChild[] = [server];
  let dataDir: string | undefined;
  try {
    const { url: base, dataDir: dir } = await server.ready;
    dataDir = dir;
    const memory: MemoryPoint[] = [await memoryPoint(server, 0, 'fresh server', null)];

    const t0 = performance.now();
    const ids = await submitAll(base, opts.tasks, opts.inFlight);
    const submitted = performance.now();
    const { completed, failed } = await server.call('waitCompleted', { count: opts.tasks });
    const t1 = performance.now();
    if (completed !== opts.tasks) throw new Error(`expected ${opts.tasks} completed tasks, got ${completed} (${failed} failed)`);
    memory.push(await memoryPoint(server, opts.tasks, 'HTTP, before polling', null));

    const loadgen = forkChild('loadgen');
    const seeder = forkChild('seed', [dir]);
    children.push(loadgen, seeder);
    await Promise.all([loadgen.ready, seeder.ready]);
    for (const target of opts.checkpoints) {
      const via = target > ids.length ? `seeded +${target - ids.length}` : 'HTTP';
      if (target > ids.length) ids.push(...(await seeder.call<string[]>('seed', { count: target - ids.length })));
      const poll = await loadgen.call<LoadResult>('run', {
        base, paths: ids.map((id) => `/v1/images/tasks/${id}`),
        connections: opts.pollConnections, warmupMs: 500, durationMs: opts.pollMs,
      });
      if (poll.non200 || poll.errors) throw new Error(`polling finished tasks: ${poll.non200} non-200 answers, ${poll.errors} errors`);
      memory.push(await memoryPoint(server, target, via, poll.rps));
    }
    const totalSeconds = (t1 - t0) / 1000;
    return {
      tasks: opts.tasks,
      inFlight: opts.inFlight,
      submitSeconds: (submitted - t0) / 1000,
      acceptedPerSecond: opts.tasks / ((submitted - t0) / 1000),
      totalSeconds,
      tasksPerSecond: opts.tasks / totalSeconds,
      failed,
      memory,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
