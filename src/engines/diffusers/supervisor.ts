/**
 * Keeps one Python worker alive: first load, readiness, heartbeat and load-time watchdogs,
 * and restarts with exponential backoff after a crash. Job frames are passed through to
 * the engine, which owns the job state.
 */
import { CanceledError, EngineError } from '../../errors.js';
import type { EngineState } from '../../interfaces.js';
import type { Logger } from '../../log.js';
import type { FrameHeader } from './protocol.js';
import type { WorkerExit, WorkerProcess } from './worker-process.js';

export interface SupervisorOptions {
  spawn: () => WorkerProcess;
  log: Logger;
  startTimeoutMs: number;
  heartbeatTimeoutMs: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  model: string;
  device: string;
}

export interface SupervisorListener {
  onFrame(header: FrameHeader, payload: Buffer): void;
  onExit(exit: WorkerExit, stderrTail: string[]): void;
}

interface Waiter {
  resolve: (proc: WorkerProcess) => void;
  reject: (err: Error) => void;
}

export function describeExit(exit: WorkerExit): string {
  if (exit.reason) return exit.reason;
  if (exit.signal) return `the Python worker was killed by ${exit.signal}`;
  return `the Python worker exited with code ${exit.code}`;
}

export class Supervisor {
  private proc: WorkerProcess | null = null;
  private status: EngineState;
  private ready = false;
  /** Announced its own exit (fatal CUDA error): no new jobs, but its exit is a crash, not a failed load. */
  private retiring = false;
  /** The worker's own account of a failed load (it exits right after sending it). */
  private loadError: string | null = null;
  private spawnedAt = 0;
  private failures = 0;
  private everReady = false;
  private closed = false;
  private waiters: Waiter[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private firstStart: { resolve: () => void; reject: (err: Error) => void } | null = null;
  /** The worker's `ready` frame: model, device, offload, steps semantics, versions. */
  info: Record<string, unknown> = {};
  /** Processes started so far (1 + restarts). */
  starts = 0;
  listener: SupervisorListener | null = null;

  constructor(private readonly opts: SupervisorOptions) {
    this.status = { state: 'loading', model: opts.model, device: opts.device, message: 'not started' };
  }

  state(): EngineState {
    return { ...this.status };
  }

  get current(): WorkerProcess | null {
    return this.proc;
  }

  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.firstStart = { resolve, reject }));
    const every = Math.max(50, Math.min(1000, this.opts.heartbeatTimeoutMs / 4));
    this.watchdog = setInterval(() => this.checkLiveness(), every);
    this.watchdog.unref();
    this.launch();
    return started;
  }

  /** The ready worker; waits through a load or restart. Rejects when the engine cannot run jobs. */
  whenReady(signal: AbortSignal): Promise<WorkerProcess> {
    if (this.closed) return Promise.reject(new EngineError('engine_closed', 'the engine is shutting down', true));
    if (this.ready && this.proc) return Promise.resolve(this.proc);
    if (this.status.state === 'error' && !this.restartTimer) {
      return Promise.reject(new EngineError('engine_unavailable', this.status.message ?? 'engine failed to load', false));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (p) => {
          signal.removeEventListener('abort', onAbort);
          resolve(p);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CanceledError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Called when a job finished cleanly: the worker is healthy, so backoff starts over. */
  noteSuccess(): void {
    this.failures = 0;
  }

  kill(reason: string): void {
    this.proc?.kill(reason);
  }

  /** The worker said it is about to exit: hold new jobs until its replacement is ready. */
  retire(): void {
    if (!this.ready) return;
    this.ready = false;
    this.retiring = true;
    this.status = { state: 'loading', model: this.opts.model, device: this.opts.device, message: 'restarting the worker' };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.restartTimer = this.watchdog = null;
    this.rejectWaiters(new EngineError('engine_closed', 'the engine is shutting down', true));
    this.firstStart?.reject(new Error('engine closed before it was ready'));
    this.firstStart = null;
    const proc = this.proc;
    if (!proc?.alive) return;
    proc.send({ type: 'shutdown' });
    proc.child.stdin?.end();
    const timer = setTimeout(() => proc.kill('shutdown took too long'), 5000);
    await proc.whenExited;
    clearTimeout(timer);
  }

  private launch(): void {
    this.restartTimer = null;
    if (this.closed) return;
    this.ready = false;
    this.spawnedAt = Date.now();
    this.starts += 1;
    this.status = { state: 'loading', model: this.opts.model, device: this.opts.device, message: 'loading the model' };
    const proc = this.opts.spawn();
    this.proc = proc;
    proc.on('frame', (header: FrameHeader, payload: Buffer) => this.onFrame(proc, header, payload));
    proc.on('exit', (exit: WorkerExit) => this.onExit(proc, exit));
  }

  private onFrame(proc: WorkerProcess, header: FrameHeader, payload: Buffer): void {
    if (proc !== this.proc) return;
    switch (header.type) {
      case 'heartbeat':
      case 'hello':
        return;
      case 'ready': {
        this.info = { ...header };
        delete this.info.type;
        this.ready = true;
        this.everReady = true;
        const model = typeof header.model === 'string' ? header.model : this.opts.model;
        const device = typeof header.device === 'string' ? header.device : this.opts.device;
        this.status = { state: 'ready', model, device };
        this.opts.log.info({ worker: this.info, pid: proc.pid }, 'diffusers engine ready');
        this.firstStart?.resolve();
        this.firstStart = null;
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w.resolve(proc);
        return;
      }
      case 'load_error':
        this.loadError = `model load failed: ${String(header.message)}`;
        return;
      default:
        this.listener?.onFrame(header, payload);
    }
  }

  private onExit(proc: WorkerProcess, exit: WorkerExit): void {
    if (proc !== this.proc) return;
    const wasReady = this.ready || this.retiring;
    this.ready = this.retiring = false;
    this.proc = null;
    if (this.closed) return;
    const why = (!wasReady && this.loadError) || describeExit(exit);
    this.loadError = null;
    if (wasReady) {
      this.opts.log.error({ pid: proc.pid, exit, stderr: proc.stderrTail.slice(-5) }, `diffusers worker died: ${why}`);
      this.listener?.onExit(exit, proc.stderrTail);
    } else {
      const tail = proc.stderrTail.slice(-3).join(' | ');
      const message = `${why}${tail && !why.startsWith('model load failed') ? ` (stderr: ${tail})` : ''}`;
      this.opts.log.error({ pid: proc.pid, exit }, `diffusers engine failed to load: ${message}`);
      this.status = { state: 'error', model: this.opts.model, device: this.opts.device, message };
      if (!this.everReady) {
        // The very first load failed: a retry would fail the same way, so stay in `error`.
        this.firstStart?.reject(new EngineError('engine_unavailable', message, false));
        this.firstStart = null;
        this.rejectWaiters(new EngineError('engine_unavailable', message, false));
        return;
      }
      this.rejectWaiters(new EngineError('engine_unavailable', message, true));
    }
    const delay = Math.min(this.opts.restartBackoffMaxMs, this.opts.restartBackoffMs * 2 ** this.failures);
    this.failures += 1;
    if (this.status.state !== 'error') {
      this.status = { state: 'loading', model: this.opts.model, device: this.opts.device, message: `restarting after: ${why}` };
    }
    this.opts.log.warn({ delayMs: delay, attempt: this.failures }, 'restarting the diffusers worker');
    this.restartTimer = setTimeout(() => this.launch(), delay);
  }

  private checkLiveness(): void {
    const proc = this.proc;
    if (!proc?.alive) return;
    const now = Date.now();
    if (now - proc.lastFrameAt > this.opts.heartbeatTimeoutMs) {
      proc.kill(`no heartbeat from the Python worker for ${Math.round((now - proc.lastFrameAt) / 1000)} s`);
    } else if (!this.ready && !this.retiring && now - this.spawnedAt > this.opts.startTimeoutMs) {
      // (A retiring worker is not loading: it is about to exit, and its exit is reported as a crash.)
      proc.kill(`model load took longer than ZIMAGE_ENGINE_START_TIMEOUT_SECONDS (${this.opts.startTimeoutMs / 1000} s)`);
    }
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
