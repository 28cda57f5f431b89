/**
 * Dispatch latency: how long a runnable task waits before the engine starts it, with the
 * worker idle. Tasks go one at a time (submit, wait for completion and an idle worker, next).
 * The engine is the synthetic one at 0 ms per step, wrapped to stamp performance.now()
 * when run() is called; the server runs in this process, so one clock serves both ends.
 *   - enqueue → start: queue.enqueue called directly; from its 'queued' event (the commit).
 *   - HTTP submit → start: POST /v1/images/async_generate over loopback keep-alive, from just
 *     before the request is written (the 'queued' → start part is reported beside it).
 */
import fs from 'node:fs';
import http from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import { SyntheticEngine } from '../src/engines/synthetic/engine.js';
import type { Engine, EngineContext, Job, NewTask, RawImage, TaskKind } from '../src/interfaces.js';
import { startServer, type ServerHandle } from '../src/server.js';
import { benchConfig, percentiles, submitTask, type Percentiles } from './helpers.js';

/** The synthetic engine, plus a timestamp of every run() start. */
export class StampingEngine implements Engine {
  readonly name: string;
  readonly synthetic: boolean;
  readonly startedAt = new Map<string, number>();
  constructor(private readonly inner: Engine) {
    this.name = inner.name;
    this.synthetic = inner.synthetic;
  }
  run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    this.startedAt.set(job.taskId, performance.now());
    return this.inner.run(job, ctx);
  }
  state() { return this.inner.state(); }
  start() { return this.inner.start(); }
  close() { return this.inner.close(); }
  defaultSteps(kind: TaskKind) { return this.inner.defaultSteps(kind); }
}

export interface DispatchReport {
  tasks: number;
  enqueueToStart: Percentiles;
  httpToStart: Percentiles;
  /** During the HTTP run: from the 'queued' event to the engine start. */
  httpQueuedToStart: Percentiles;
  /** The direct run split in two: 'queued' → claim committed ('started' event), and claim → engine run(). */
  queuedToClaimed: Percentiles;
  claimedToStart: Percentiles;
}

const NEW_TASK: NewTask = {
  kind: 'generate',
  params: { prompt: 'benchmark: dispatch', n: 1, width: 256, height: 256, seed: 1, output_format: 'png', response_format: 'url' },
};

/** Runs one task through `submit` and waits until it finished and the worker is idle again. */
async function oneTask(server: ServerHandle, submit: () => Promise<unknown>): Promise<void> {
  let finished!: (id: string) => void;
  const done = new Promise<string>((r) => { finished = r; });
  const off = server.queue.subscribe((e) => {
    if (e.type === 'completed' || e.type === 'failed') finished(e.taskId);
  });
  await submit();
  await done;
  off();
  while (server.worker!.state() !== 'idle') await nextTurn();
}

export async function benchDispatch(opts: { tasks: number; warmup: number }): Promise<DispatchReport> {
  const engine = new StampingEngine(new SyntheticEngine({ stepMs: 0 }));
  const config = benchConfig();
  const server = await startServer(config, { log: pino({ level: 'silent' }), engine });
  const queuedAt = new Map<string, number>();
  const claimedAt = new Map<string, number>();
  server.queue.subscribe((e) => {
    if (e.type === 'queued') queuedAt.set(e.taskId, performance.now());
    else if (e.type === 'started') claimedAt.set(e.taskId, performance.now());
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const enqueueToStart: number[] = [];
    const queuedToClaimed: number[] = [];
    const claimedToStart: number[] = [];
    for (let i = 0; i < opts.warmup + opts.tasks; i++) {
      let id = '';
      await oneTask(server, async () => { id = (await server.queue.enqueue(NEW_TASK)).task.id; });
      if (i < opts.warmup) continue;
      enqueueToStart.push(engine.startedAt.get(id)! - queuedAt.get(id)!);
      queuedToClaimed.push(claimedAt.get(id)! - queuedAt.get(id)!);
      claimedToStart.push(engine.startedAt.get(id)! - claimedAt.get(id)!);
    }
    const httpToStart: number[] = [];
    const httpQueuedToStart: number[] = [];
    for (let i = 0; i < opts.warmup + opts.tasks; i++) {
      let id = '';
      let sent = 0;
      await oneTask(server, async () => {
        sent = performance.now();
        id = await submitTask(agent, server.url);
      });
      if (i >= opts.warmup) {
        httpToStart.push(engine.startedAt.get(id)! - sent);
        httpQueuedToStart.push(engine.startedAt.get(id)! - queuedAt.get(id)!);
      }
    }
    return {
      tasks: opts.tasks,
      enqueueToStart: percentiles(enqueueToStart),
      httpToStart: percentiles(httpToStart),
      httpQueuedToStart: percentiles(httpQueuedToStart),
      queuedToClaimed: percentiles(queuedToClaimed),
      claimedToStart: percentiles(claimedToStart),
    };
  } finally {
    agent.destroy();
    await server.close();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}
