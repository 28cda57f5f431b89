/**
 * One Python worker process: spawn, frames in and out, stderr into the log, kill.
 * It knows nothing of jobs or restarts (engine.ts and supervisor.ts do).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../log.js';
import { encodeFrame, FrameDecoder, type FrameHeader } from './protocol.js';

export interface WorkerProcessOptions {
  python: string;
  script: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Logger;
}

const PY_LEVEL = /^(DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$/;
const LEVELS: Record<string, 'debug' | 'info' | 'warn' | 'error'> = {
  DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'error',
};

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why we killed it, or the spawn error; null when it exited on its own. */
  reason: string | null;
}

/**
 * Events: 'frame' (header, payload), 'exit' (WorkerExit), once each process.
 */
export class WorkerProcess extends EventEmitter {
  readonly child: ChildProcess;
  lastFrameAt = Date.now();
  /** Last stderr lines, quoted in crash messages. */
  readonly stderrTail: string[] = [];
  private killReason: string | null = null;
  private exited = false;
  readonly whenExited: Promise<WorkerExit>;

  constructor(private readonly opts: WorkerProcessOptions) {
    super();
    // Own process group, so a kill also takes down anything the worker started (torch.compile helpers).
    this.child = spawn(opts.python, ['-u', opts.script], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    this.whenExited = new Promise((resolve) => this.once('exit', resolve));
    const decoder = new FrameDecoder();
    this.child.stdout!.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        // A desynchronised stream cannot be trusted again: replace the worker.
        this.kill(`protocol error: ${(err as Error).message}`);
        return;
      }
      for (const { header, payload } of frames) {
        this.lastFrameAt = Date.now();
        this.emit('frame', header, payload);
      }
    });
    this.pipeStderr();
    this.child.stdin!.on('error', () => {}); // EPIPE after the worker died; 'exit' reports it
    this.child.on('error', (err) => this.finish(null, null, `cannot run ${opts.python}: ${err.message}`));
    this.child.on('exit', (code, signal) => {
      // Whatever the worker started (torch.compile's compile workers) must not outlive it, even
      // when it exited on its own.
      this.killGroup();
      // Let the last stderr lines (often the traceback) arrive before reporting; a leftover
      // grandchild holding the pipe open must not delay the report for long.
      const done = () => this.finish(code, signal, this.killReason);
      const timer = setTimeout(done, 250);
      this.child.once('close', () => {
        clearTimeout(timer);
        done();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(header: FrameHeader, payload?: Buffer | readonly Buffer[]): void {
    if (this.exited || !this.child.stdin!.writable) return;
    for (const part of encodeFrame(header, payload)) this.child.stdin!.write(part);
  }

  /** SIGKILL to the whole group: a hung CUDA call ignores anything gentler. */
  kill(reason: string): void {
    if (this.exited) return;
    this.killReason ??= reason;
    if (!this.killGroup()) this.child.kill('SIGKILL');
  }

  /** SIGKILL to the worker's process group; false where there is none to signal. */
  private killGroup(): boolean {
    if (!this.child.pid || process.platform === 'win32') return false;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
      return true;
    } catch {
      return false; // ESRCH: the group is already gone
    }
  }

  private finish(code: number | null, signal: NodeJS.Signals | null, reason: string | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', { code, signal, reason } satisfies WorkerExit);
  }

  private pipeStderr(): void {
    const log = this.opts.log;
    let partial = '';
    this.child.stderr!.setEncoding('utf8');
    const emitLine = (raw: string) => {
      const line = raw.replace(/\r/g, '').trimEnd();
      if (!line) return;
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      const m = PY_LEVEL.exec(line);
      if (m) log[LEVELS[m[1]]]({ pid: this.child.pid, logger: m[2] }, m[3]);
      else log.info({ pid: this.child.pid }, line);
    };
    this.child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) emitLine(line);
      if (partial.length > 64 * 1024) {
        emitLine(partial);
        partial = '';
      }
    });
    this.child.stderr!.on('end', () => {
      if (partial) emitLine(partial);
      partial = '';
    });
  }
}
