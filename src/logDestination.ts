/**
 * Where log lines go (stdout), written so that a full or broken destination never stops the
 * server. pino's own destination throws on ENOSPC/EBADF (an uncaught 'error'), and its exit
 * hook then retries the write forever: the process hangs. Here every write error is counted and
 * swallowed; lines wait in a bounded backlog (dropped, and counted, past it) and are retried
 * with a backoff, so logging resumes by itself when the disk has room or the pipe drains.
 *
 * Writes are synchronous, so lines keep their order and the last ones before an exit are not
 * lost. That is safe because stdout is made non-blocking first: a pipe nobody reads answers
 * EAGAIN (into the backlog) instead of blocking the event loop.
 */
import fs from 'node:fs';

export interface LogDestinationStats {
  /** Writes that failed (each retry that fails counts). */
  errors: number;
  /** Lines given up because the backlog was full. */
  dropped: number;
  /** The code of the latest failure (EPIPE, ENOSPC, EAGAIN, ...), null if none yet. */
  lastError: string | null;
  /** Bytes waiting for the destination to take them. */
  backlogBytes: number;
}

/** At most this much waits for a destination that does not take writes: about ten thousand lines. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5000;

export class LogDestination {
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private readonly counts = { errors: 0, dropped: 0, lastError: null as string | null };

  constructor(private readonly fd: number, private readonly maxBacklogBytes = MAX_BACKLOG_BYTES) {}

  /** pino's stream interface: one call per line. Never throws. */
  write(chunk: string): boolean {
    const data = Buffer.from(chunk);
    if (this.backlog.length) {
      this.hold(data);
      return true;
    }
    const rest = this.tryWrite(data);
    if (rest) {
      this.hold(rest);
      this.schedule();
    }
    return true;
  }

  /** Writes what waits, once (for pino's flush and at exit): never blocks, never throws. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    cb?.();
  }

  stats(): LogDestinationStats {
    return { ...this.counts, backlogBytes: this.backlogBytes };
  }

  /** The unwritten rest of data (undefined when all of it went), counting a failure. */
  private tryWrite(data: Buffer): Buffer | undefined {
    let offset = 0;
    try {
      while (offset < data.length) offset += fs.writeSync(this.fd, data, offset);
      return undefined;
    } catch (err) {
      this.counts.errors++;
      this.counts.lastError = (err as NodeJS.ErrnoException).code ?? String(err);
      return data.subarray(offset);
    }
  }

  private hold(data: Buffer): void {
    if (this.backlogBytes + data.length > this.maxBacklogBytes) {
      this.counts.dropped++;
      return;
    }
    this.backlog.push(data);
    this.backlogBytes += data.length;
  }

  /** Writes the backlog in order until it is empty or the destination refuses again. */
  private drain(): boolean {
    while (this.backlog.length) {
      const rest = this.tryWrite(this.backlog[0]);
      if (rest) {
        this.backlogBytes -= this.backlog[0].length - rest.length;
        this.backlog[0] = rest;
        return false;
      }
      this.backlogBytes -= this.backlog[0].length;
      this.backlog.shift();
    }
    return true;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.drain()) {
        this.retryMs = RETRY_MIN_MS;
        return;
      }
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      this.schedule();
    }, this.retryMs);
    this.timer.unref(); // a stuck log must not keep a finished process alive
  }
}

let stdout: LogDestination | undefined;

/** The process's one stdout destination (made non-blocking, flushed once at exit). */
export function stdoutDestination(): LogDestination {
  if (stdout) return stdout;
  // Opening process.stdout puts a pipe into non-blocking mode (libuv does), so a full pipe
  // answers EAGAIN instead of blocking every write.
  void process.stdout;
  const dest = new LogDestination(1);
  process.on('exit', () => dest.flush());
  stdout = dest;
  return dest;
}

/** Counters of the stdout destination, for /health; zeros when nothing has logged yet. */
export function logDestinationStats(): LogDestinationStats {
  return stdout?.stats() ?? { errors: 0, dropped: 0, lastError: null, backlogBytes: 0 };
}
