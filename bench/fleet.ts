/**
 * Fleet mode against the embedded queue, measured in the same run on real PostgreSQL and
 * Redis (started here, on loopback, like the tests do):
 *   - dispatch latency: enqueue committed (enqueue() resolved) → engine run() starts, idle
 *     worker, one task at a time; server and worker in this process, so one clock serves both.
 *   - throughput with 1, 2 and 4 workers: the synthetic engine sleeps per step (CPU is not the
 *     limit), N tasks enqueued at once, first enqueue → last completion.
 */
import fs from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import type { Config } from '../src/config.js';
import { SyntheticEngine } from '../src/engines/synthetic/engine.js';
import type { NewTask } from '../src/interfaces.js';
import { startServer, startWorkerProcess, type ServerHandle, type WorkerHandle } from '../src/server.js';
import { fleetConfig } from '../test/helpers/fleet.js';
import { startPostgres, startRedis } from '../test/helpers/services.js';
import { StampingEngine } from './dispatch.js';
import { benchConfig, percentiles, type Percentiles } from './helpers.js';

const NEW_TASK: NewTask = {
  kind: 'generate',
  params: { prompt: 'benchmark: fleet', n: 1, width: 256, height: 256, seed: 1, output_format: 'png', response_format: 'url' },
};
const log = pino({ level: 'silent' });

export interface FleetReport {
  dispatch: { embedded: Percentiles; fleet: Percentiles };
  throughput: { stepMs: number; steps: number; tasks: number; embedded: number; fleet: Record<string, number>; scaling4: number };
}

/** Waits until every listed task is final, by polling the store (the record is the truth). */
async function untilFinal(server: ServerHandle, ids: string[]): Promise<void> {
  const pending = new Set(ids);
  while (pending.size) {
    for (const id of [...pending]) {
      const t = await server.queue.get(id);
      if (t && ['completed', 'failed', 'canceled'].includes(t.state)) pending.delete(id);
    }
    if (pending.size) await new Promise((r) => setTimeout(r, 5));
  }
}

async function dispatchRun(server: ServerHandle, engine: StampingEngine, n: number, warmup: number, idle: () => boolean): Promise<Percentiles> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const { task } = await server.queue.enqueue(NEW_TASK);
    const committed = performance.now();
    await untilFinal(server, [task.id]);
    while (!idle()) await nextTurn();
    if (i >= warmup) samples.push(engine.startedAt.get(task.id)! - committed);
  }
  return percentiles(samples);
}

async function throughputRun(server: ServerHandle, tasks: number): Promise<number> {
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: tasks }, async () => (await server.queue.enqueue(NEW_TASK)).task.id));
  await untilFinal(server, ids);
  return tasks / ((performance.now() - t0) / 1000);
}

/** An API node (no worker) and `workers` worker "processes" (in this one), on a fresh fleet database. */
async function fleet(config: Config, workers: number, engine: () => SyntheticEngine | StampingEngine) {
  const handles: WorkerHandle[] = [];
  for (let i = 0; i < workers; i++) handles.push(await startWorkerProcess({ ...config, worker: true }, { log, engine: engine() }));
  const api = await startServer({ ...config, worker: false }, { log });
  return { api, handles, close: async () => { await Promise.all(handles.map((h) => h.close())); await api.close(); } };
}

export async function benchFleet(opts: { dispatchTasks: number; warmup: number; tasks: number; stepMs: number }): Promise<FleetReport> {
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  try {
    // Dispatch: embedded, then fleet (one worker).
    const embeddedEngine = new StampingEngine(new SyntheticEngine({ stepMs: 0 }));
    const embeddedConfig = benchConfig();
    const embedded = await startServer(embeddedConfig, { log, engine: embeddedEngine });
    const dEmbedded = await dispatchRun(embedded, embeddedEngine, opts.dispatchTasks, opts.warmup, () => embedded.worker!.state() === 'idle');
    await embedded.close();

    const fleetEngine = new StampingEngine(new SyntheticEngine({ stepMs: 0 }));
    const f1 = await fleet(await fleetConfig(postgres, redis), 1, () => fleetEngine);
    // An idle fleet worker is back in getNextJob ('claiming') once its task is recorded.
    const dFleet = await dispatchRun(f1.api, fleetEngine, opts.dispatchTasks, opts.warmup, () => f1.handles[0].worker.state() === 'claiming');
    await f1.close();

    // Throughput with a sleeping engine.
    const sleeping = () => new SyntheticEngine({ stepMs: opts.stepMs });
    const tEmbeddedConfig = benchConfig({ syntheticStepMs: opts.stepMs });
    const tEmbedded = await startServer(tEmbeddedConfig, { log, engine: sleeping() });
    const embeddedTps = await throughputRun(tEmbedded, opts.tasks);
    await tEmbedded.close();
    const fleetTps: Record<string, number> = {};
    for (const workers of [1, 2, 4]) {
      const f = await fleet(await fleetConfig(postgres, redis), workers, sleeping);
      await new Promise((r) => setTimeout(r, 200)); // engines ready, workers waiting for tickets
      fleetTps[workers] = await throughputRun(f.api, opts.tasks * workers);
      await f.close();
    }
    for (const dir of [embeddedConfig.dataDir, tEmbeddedConfig.dataDir]) fs.rmSync(dir, { recursive: true, force: true });
    return {
      dispatch: { embedded: dEmbedded, fleet: dFleet },
      throughput: { stepMs: opts.stepMs, steps: 8, tasks: opts.tasks, embedded: embeddedTps, fleet: fleetTps, scaling4: fleetTps[4] / fleetTps[1] },
    };
  } finally {
    await Promise.all([postgres.close(), redis.close()]);
  }
}
