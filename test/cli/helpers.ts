/**
 * Runs the built `zimage` CLI as a real subprocess: piped (not a terminal), or under util-linux
 * `script` for a pseudo-terminal, so progress redraws and the Ctrl-C question can be driven.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI } from '../helpers/server.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  /** ZIMAGE_URL for the child (the server under test). */
  url?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

/** The child's environment: ours, minus any ZIMAGE_URL / ZIMAGE_API_KEY of the machine running the tests. */
function childEnv(opts: CliOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.ZIMAGE_URL;
  delete env.ZIMAGE_API_KEY;
  if (opts.url) env.ZIMAGE_URL = opts.url;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** A running CLI with its output so far and a way to wait for some of it. */
export interface LiveCli {
  child: ChildProcess;
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves once the output (stdout + stderr) matches. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

function live(child: ChildProcess, timeoutMs: number): LiveCli {
  const started = Date.now();
  let out = '';
  let err = '';
  let both = '';
  const watchers = new Set<() => void>();
  const notify = () => { for (const w of [...watchers]) w(); };
  child.stdout!.on('data', (d) => { out += d; both += d; notify(); });
  child.stderr!.on('data', (d) => { err += d; both += d; notify(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => {
    clearTimeout(killer);
    notify();
    resolve({ code, signal, stdout: out, stderr: err, ms: Date.now() - started });
  }));
  let closed = false;
  done.then(() => { closed = true; });
  return {
    child,
    output: () => both,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, ms = 15_000) {
      const matches = () => (typeof pattern === 'string' ? both.includes(pattern) : pattern.test(both));
      return new Promise((resolve, reject) => {
        const check = () => {
          if (matches()) finish(resolve);
          else if (closed) finish(() => reject(new Error(`exited before printing ${pattern}:\n${both}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${both}`))), ms);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          then();
        };
        watchers.add(check);
        check();
      });
    },
    done,
  };
}

/** Starts `node dist/src/cli/main.js ...args` with pipes (no terminal). */
export function startCli(args: string[], opts: CliOptions = {}): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(opts), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end();
  return live(child, opts.timeoutMs ?? 30_000);
}

/** Runs the CLI to its end. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}

const shellQuote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** Whether util-linux `script` is here to give the CLI a pseudo-terminal. */
export const HAVE_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Starts the CLI on a pseudo-terminal: `script -qefc CMD /dev/null` runs CMD with the pty as its
 * stdin, stdout and stderr, copies what it writes to our stdout (the terminal turns \n into
 * \r\n), and what we write to its stdin arrives as typed keys (\x03 is Ctrl-C). `exec` makes
 * the CLI the session's process itself, so the terminal's SIGINT goes to it and not to a shell,
 * and -e passes on its exit code.
 */
export function startCliOnPty(args: string[], opts: CliOptions = {}): LiveCli {
  const command = `exec ${[process.execPath, CLI, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qefc', command, '/dev/null'], {
    env: { ...childEnv(opts), SHELL: '/bin/sh', TERM: 'xterm' }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'],
  });
  return live(child, opts.timeoutMs ?? 30_000);
}

/** Sends keys to a CLI started on a pseudo-terminal. */
export function typeKeys(cli: LiveCli, keys: string): void {
  cli.child.stdin!.write(keys);
}
