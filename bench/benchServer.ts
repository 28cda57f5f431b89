/**
 * Child-process entry: the real server (startServer, synthetic engine at 0 ms per step)
 * in its own process, so the load generator and the submitter never share its event loop.
 * argv[2]: JSON of Config overrides. Calls: memory, cpu, counts, waitCompleted, close.
 */
import fs from 'node:fs';
import { pino } from 'pino';
import type { Config } from '../src/config.js';
import { startServer } from '../src/server.js';
import { benchConfig } from './helpers.js';
import { announceReady, cpuMs, serveCalls } from './ipc.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Partial<Config>;
const config = benchConfig(overrides);
const server = await startServer(config, { log: pino({ level: 'silent' }) });

let completed = 0;
let failed = 0;
const waiters: Array<{ count: number; resolve: () => void }> = [];
server.queue.subscribe((e) => {
  if (e.type === 'completed') completed++;
  else if (e.type === 'failed' || e.type === 'canceled') failed++;
  else return;
  for (let i = waiters.length - 1; i >= 0; i--) {
    if (completed + failed >= waiters[i].count) waiters.splice(i, 1)[0].resolve();
  }
});

/** Peak resident set (VmHWM) from /proc, where there is one. */
function peakRss(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

serveCalls({
  memory: () => ({ ...process.memoryUsage(), peakRss: peakRss() }),
  cpu: () => cpuMs(),
  counts: async () => ({ completed, failed, ...(await server.queue.stats()) }),
  /** Resolves once `count` tasks have finished (completed or not) since start. */
  waitCompleted: ({ count }: { count: number }) => new Promise<{ completed: number; failed: number }>((resolve) => {
    const done = () => resolve({ completed, failed });
    if (completed + failed >= count) done();
    else waiters.push({ count, resolve: done });
  }),
  close: () => server.close(),
});
announceReady({ url: server.url, dataDir: config.dataDir, pid: process.pid });
