import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; one logger for the process, children per component. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
