/**
 * A task's progress on stderr, fed by client.wait's onUpdate. On a terminal: one line, redrawn
 * in place (carriage return + erase), with a bar, the queue position while queued, and
 * step/total with an ETA while running. Elsewhere (a log file, CI, a pipe): a plain line per
 * change of state, with running steps at most one line a second, so logs stay readable.
 */
import type { Task, TaskEventName } from '../../client/index.js';

export interface Progress {
  update(task: Task, event: TaskEventName): void;
  /** Clears the line and stops drawing (a question is about to be asked, or we are done). */
  stop(): void;
}

const BAR_WIDTH = 24;
const PLAIN_STEP_INTERVAL_MS = 1000;

export function formatDuration(seconds: number): string {
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** 1-based, as people count a queue: "position 1" is next. */
const positionOf = (task: Task) => (task.queue_position ?? 0) + 1;

function stepText(task: Task): string | undefined {
  return task.total_steps ? `step ${task.step ?? 0}/${task.total_steps}` : undefined;
}

/** The plain-line description of where a task stands. */
export function describe(task: Task): string {
  if (task.status !== 'processing') return task.status;
  if (task.stage === 'running') {
    const step = stepText(task);
    return `running${step ? ` ${step}` : ''}${task.cancel_requested ? ' (cancel requested)' : ''}`;
  }
  return `queued (position ${positionOf(task)})`;
}

export function bar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** The terminal line: bar first, so it stays put as the numbers change. */
export function ttyLine(task: Task, elapsedSeconds: number): string {
  const time = formatDuration(elapsedSeconds);
  if (task.status === 'processing' && task.stage === 'running') {
    const parts = [`${bar(task.progress ?? 0)} ${String(Math.round((task.progress ?? 0) * 100)).padStart(3)}%`];
    const step = stepText(task);
    if (step) parts.push(step);
    if (task.eta_seconds !== undefined && task.eta_seconds !== null) parts.push(`ETA ${formatDuration(task.eta_seconds)}`);
    if (task.cancel_requested) parts.push('cancel requested');
    parts.push(time);
    return parts.join('  ');
  }
  return `${bar(0)}  queued, position ${positionOf(task)}  ${time}`;
}

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  /** Redraw one line (a terminal) or print plain lines. */
  tty: boolean;
  /** No progress at all (--quiet). */
  silent: boolean;
  now?: () => number;
}

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.silent) return { update() {}, stop() {} };
  return opts.tty ? ttyProgress(opts) : plainProgress(opts);
}

function ttyProgress({ stream, now = Date.now }: ProgressOptions): Progress {
  const started = now();
  let latest: Task | undefined;
  let drawn = false;
  let stopped = false;
  const draw = () => {
    if (stopped || !latest || latest.status !== 'processing') return;
    // One column short of the width: a line that fills it wraps on some terminals, and a
    // wrapped line can no longer be redrawn with a carriage return.
    const width = Math.max(20, (stream.columns || 80) - 1);
    stream.write(`\r${ttyLine(latest, (now() - started) / 1000).slice(0, width)}\x1b[K`);
    drawn = true;
  };
  // The elapsed time keeps ticking while no event comes (a long queue, a slow first step).
  const ticker = setInterval(draw, 1000);
  ticker.unref();
  return {
    update(task) {
      latest = task;
      draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

function plainProgress({ stream, now = Date.now }: ProgressOptions): Progress {
  let last = '';
  let lastPhase = '';
  let lastStepAt = -Infinity;
  let stopped = false;
  return {
    update(task, event) {
      if (stopped || task.status !== 'processing') return;
      const line = event === 'requeued' ? 'requeued (its worker stopped; it runs again)' : describe(task);
      if (line === last) return;
      // A new phase (queued, running, a new position, a cancel) always gets its line; steps
      // within the running phase are throttled.
      const phase = task.stage === 'running' ? `running${task.cancel_requested ? '-cancel' : ''}` : line;
      const t = now();
      if (phase === lastPhase && event !== 'requeued' && t - lastStepAt < PLAIN_STEP_INTERVAL_MS) return;
      last = line;
      lastPhase = phase;
      lastStepAt = t;
      stream.write(`${line}\n`);
    },
    stop() {
      stopped = true;
    },
  };
}
