import { newWorkerId } from '../ids.js';
import type { Claim } from '../interfaces.js';
import { runTask, type RunDeps } from './runTask.js';

const ENGINE_POLL_MS = 200;
/** How often a worker that waits for free space looks again (the measurement itself is cached for a second). */
const STORAGE_POLL_MS = 1000;

/** Resolves after ms, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    if (signal.aborted) done();
  });
}

/** The loop's explicit states, for logs and tests. */
export type WorkerState = 'waiting_for_engine' | 'waiting_for_storage' | 'idle' | 'claiming' | 'running' | 'stopping' | 'stopped';

/**
 * Claims tasks one at a time and runs them on its engine (one engine run at a time per
 * engine instance). The loop never dies on an error: it logs, waits a moment and goes on.
 * stop() lets the running task finish for a grace period, then aborts it and hands it back.
 */
export class Worker {
  readonly id = newWorkerId();
  private current: WorkerState = 'idle';
  private readonly shutdown = new AbortController();
  private readonly wake = new AbortController();
  private loop: Promise<void> | undefined;
  private running: Claim | undefined;
  private stopRequested = false;

  constructor(private readonly deps: RunDeps) {}

  state(): WorkerState {
    return this.current;
  }

  /** The id of the task being run now, if any. */
  currentTask(): string | null {
    return this.running?.task.id ?? null;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const { queue, log } = this.deps;
    while (!this.stopRequested) {
      try {
        // Claim only while the engine can run: tasks submitted during a model load (or while
        // a crashed worker restarts, or after a load error) wait in the queue, attempts and
        // task timeout untouched, instead of failing one after another.
        if (this.deps.engine.state().state !== 'ready') {
          this.current = 'waiting_for_engine';
          await sleep(ENGINE_POLL_MS, this.wake.signal);
          continue;
        }
        // Nor while the storage is full: the task would run only to find no room for its images.
        if (await this.storageFull()) {
          await sleep(STORAGE_POLL_MS, this.wake.signal);
          continue;
        }
        this.current = 'claiming';
        const claim = await queue.claim(this.id);
        if (!claim) {
          this.current = 'idle';
          await queue.waitForWork(this.wake.signal);
          continue;
        }
        this.current = 'running';
        this.running = claim;
        await runTask(claim, this.deps, this.shutdown.signal);
      } catch (err) {
        log.error({ err, worker: this.id }, 'worker loop error; continuing');
        await sleep(500, this.wake.signal);
      } finally {
        this.running = undefined;
      }
    }
    this.current = 'stopping';
  }

  /** True (and the state says so, logged once) while the storage has no room; a failed measurement counts as room. */
  private async storageFull(): Promise<boolean> {
    const space = await this.deps.storage.space?.check().catch(() => undefined);
    const waiting = this.current === 'waiting_for_storage';
    if (space?.full) {
      if (!waiting) this.deps.log.warn({ worker: this.id, reason: space.reason }, 'storage is full: not claiming tasks until space returns');
      this.current = 'waiting_for_storage';
      return true;
    }
    if (waiting) this.deps.log.info({ worker: this.id }, 'storage has room again: claiming tasks');
    return false;
  }

  /** Finishes the running task if it ends within graceMs, else aborts it and hands it back to the queue. */
  async stop(graceMs: number): Promise<void> {
    if (this.current === 'stopped') return;
    this.stopRequested = true;
    this.current = 'stopping';
    this.wake.abort();
    if (this.loop) {
      const timer = setTimeout(() => this.shutdown.abort(), graceMs);
      if (this.running) this.deps.log.info({ task: this.running.task.id, graceMs }, 'waiting for the running task before shutdown');
      await this.loop;
      clearTimeout(timer);
    }
    this.current = 'stopped';
  }
}
