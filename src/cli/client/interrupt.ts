/**
 * Ctrl-C while waiting for a task. The task lives on the server, so stopping the CLI must not
 * silently throw away (or silently keep) GPU work: on a terminal we ask; elsewhere (a script, a
 * pipe) nobody can answer, so the task keeps running and its id is printed to resume with.
 *
 * The question reads one key in raw mode, where a second Ctrl-C arrives as a byte (\x03), not a
 * signal: it means "no", as does anything but y. A second SIGINT (sent by kill, or before raw
 * mode took hold) means "no" too. The default is always to leave the task alone.
 */

export type Decision = 'cancel' | 'leave';

export interface Interrupt {
  /** Resolves at the first SIGINT. */
  started: Promise<void>;
  /** Resolves with what to do once the question (if any) is answered. */
  decision: Promise<Decision>;
  /** Stops listening and puts the terminal back as it was. */
  dispose(): void;
}

export interface InterruptOptions {
  taskId: string;
  /** Whether someone can answer: stdin and stderr are terminals. */
  ask: boolean;
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  /** Called before the question, to clear the progress line. */
  onInterrupt(): void;
}

export function watchInterrupt(opts: InterruptOptions): Interrupt {
  let startedResolve!: () => void;
  let decide!: (d: Decision) => void;
  const started = new Promise<void>((r) => { startedResolve = r; });
  const decision = new Promise<Decision>((r) => { decide = r; });
  let asking = false;
  let rawWas: boolean | undefined;
  let onData: ((chunk: Buffer | string) => void) | undefined;

  const restore = () => {
    if (onData) opts.input.off('data', onData);
    onData = undefined;
    if (rawWas !== undefined && opts.input.isTTY) opts.input.setRawMode(rawWas);
    rawWas = undefined;
    opts.input.pause();
  };
  const finish = (d: Decision) => {
    restore();
    decide(d);
  };

  const onSigint = () => {
    if (asking) {
      // A second Ctrl-C while the question is open: leave the task running.
      opts.output.write('\n');
      finish('leave');
      return;
    }
    startedResolve();
    opts.onInterrupt();
    if (!opts.ask) return finish('leave');
    asking = true;
    // Raw mode before the question: a key pressed as soon as it shows must not be echoed and
    // line-buffered by the terminal first.
    rawWas = opts.input.isRaw;
    opts.input.setRawMode(true);
    opts.output.write(`\nCancel task ${opts.taskId} on the server? [y/N] `);
    onData = (chunk) => {
      const key = String(chunk)[0] ?? '';
      // Echo what was pressed (raw mode does not), so the screen shows the answer given.
      opts.output.write(`${/^[\x20-\x7e]$/.test(key) ? key : ''}\n`);
      finish(key === 'y' || key === 'Y' ? 'cancel' : 'leave');
    };
    opts.input.on('data', onData);
    opts.input.resume();
  };
  process.on('SIGINT', onSigint);

  return {
    started,
    decision,
    dispose() {
      process.off('SIGINT', onSigint);
      restore();
    },
  };
}
