/**
 * Request/answer calls over the child_process IPC channel. The benchmark runs the server,
 * the bare baseline server, the load generator and the seeder each in its own process so
 * none of them shares an event loop with another.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallMessage { id: number; type: string; args: unknown }
interface AnswerMessage { id: number; result?: unknown; error?: string }

export interface BenchChild {
  pid: number;
  /** The first message the child sends on its own (e.g. its URL once it listens). */
  ready: Promise<any>;
  call<T = any>(type: string, args?: unknown): Promise<T>;
  /** Asks the child to finish ('close' handler if it has one), then waits for it to exit. */
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Forks dist/bench/<entry>.js and wires request/answer calls to it. Children run with the
 * flags and environment `npm start` gives the server (package.json: a 4 MB young generation,
 * MALLOC_ARENA_MAX=2), so memory figures are what a user of `npm start` sees.
 */
export function forkChild(entry: string, args: string[] = []): BenchChild {
  const env = { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };
  const child: ChildProcess = fork(path.join(HERE, `${entry}.js`), args, {
    execArgv: ['--max-semi-space-size=4'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let onReady: (v: unknown) => void;
  let onFail: (e: Error) => void;
  const ready = new Promise<any>((resolve, reject) => { onReady = resolve; onFail = reject; });
  const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => {
    const err = new Error(`bench child ${entry} exited (${code ?? signal})`);
    onFail(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    resolve();
  }));
  child.on('message', (msg: AnswerMessage & { ready?: unknown }) => {
    if ('ready' in msg) return onReady(msg.ready);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new Error(`${entry}: ${msg.error}`));
    else p.resolve(msg.result);
  });
  const call = <T>(type: string, callArgs?: unknown) => new Promise<T>((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    child.send({ id, type, args: callArgs } satisfies CallMessage);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await call('close').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  return { pid: child.pid!, ready, call, stop };
}

export type Handlers = Record<string, (args: any) => unknown>;

/** Child side: answers calls with the named handlers; 'close' runs the handler (if any) and exits. */
export function serveCalls(handlers: Handlers): void {
  process.on('message', async (msg: CallMessage) => {
    let answer: AnswerMessage;
    try {
      const handler = handlers[msg.type];
      if (!handler && msg.type !== 'close') throw new Error(`no handler for "${msg.type}"`);
      answer = { id: msg.id, result: handler ? await handler(msg.args) : null };
    } catch (err) {
      answer = { id: msg.id, error: (err as Error).stack ?? String(err) };
    }
    // After 'close' the process ends once the answer is out, whatever handles remain.
    process.send!(answer, () => msg.type === 'close' && process.exit(0));
  });
}

/** Child side: tells the parent it is ready, with a value (its URL, say). */
export function announceReady(value: unknown): void {
  process.send!({ ready: value });
}

/** CPU time of this process in ms (user + system), for "how busy was it" figures. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
