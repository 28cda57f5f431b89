import { pino, type Logger } from 'pino';
import { stdoutDestination } from './logDestination.js';
import { prettyStream, wantsPretty } from './logPretty.js';

export type { Logger };

/**
 * Structured JSON logs on stdout; one logger for the process, children per component.
 * format (ZIMAGE_LOG_FORMAT): readable lines instead when stdout is a terminal (see logPretty.ts).
 */
export function createLogger(level: string, format?: string): Logger {
  if (wantsPretty(format, process.stdout.isTTY)) {
    const colors = process.stdout.isTTY === true && !process.env.NO_COLOR;
    return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, prettyStream(stdoutDestination(), colors));
  }
  // Our own destination: a full or broken stdout is counted and retried, never thrown (see logDestination.ts).
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, stdoutDestination());
}
