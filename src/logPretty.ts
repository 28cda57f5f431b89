/**
 * Human-readable log lines for a terminal: pino writes one JSON object a line to this stream,
 * and it prints `12:34:56.789 INFO  message  key=value ...` instead (colored when asked), with
 * an error's stack on the lines below. No transport or worker thread, no dependency: a line in,
 * a line out, synchronously, so it fails and recovers exactly as the JSON destination does.
 *
 * Used only when stdout is a terminal (or ZIMAGE_LOG_FORMAT=pretty): anything that reads
 * logs mechanically (journald, Docker, shippers) gets the JSON lines.
 */

/** Where formatted lines go: process.stdout, or the logger's own destination. */
export interface LineSink {
  write(chunk: string): unknown;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO ', color: '\x1b[32m' },
  40: { name: 'WARN ', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[41m\x1b[97m' },
};
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';
/** Fields every line has, or that the layout already shows. */
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'err', 'error']);

/** `12:34:56.789` in local time, from pino's ISO or epoch timestamp. */
function clock(time: unknown): string {
  const d = new Date(typeof time === 'number' || typeof time === 'string' ? time : Date.now());
  if (Number.isNaN(d.getTime())) return String(time);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A value as it reads best after `key=`: bare when it is a plain word, else JSON. */
function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]{1,200}$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 300 ? `${json.slice(0, 300)}…` : json;
}

/** An error as pino serialises it: its stack (which starts with the message), else type and message. */
function errorLines(err: unknown): string {
  if (!err || typeof err !== 'object') return '';
  const e = err as { stack?: unknown; type?: unknown; message?: unknown; code?: unknown };
  const text = typeof e.stack === 'string' ? e.stack : `${String(e.type ?? 'Error')}: ${String(e.message ?? '')}`;
  const code = e.code !== undefined ? ` (code ${show(e.code)})` : '';
  return `\n    ${text.split('\n').join('\n    ')}${code}`;
}

/** Formats one pino JSON line; a line that is not JSON passes through unchanged. */
export function formatLine(line: string, colors: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
    if (!entry || typeof entry !== 'object') return line;
  } catch {
    return line;
  }
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level).toUpperCase().padEnd(5), color: '' };
  const fields = Object.keys(entry).filter((k) => !SKIP.has(k)).map((k) => `${k}=${show(entry[k])}`).join(' ');
  const time = clock(entry.time);
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const err = errorLines(entry.err ?? entry.error);
  if (!colors) return `${time} ${level.name} ${msg}${fields ? `  ${fields}` : ''}${err}\n`;
  return `${DIM}${time}${RESET} ${level.color}${level.name}${RESET} ${msg}${fields ? `  ${DIM}${fields}${RESET}` : ''}${err}\n`;
}

/**
 * A pino destination that prints readable lines to `sink`. pino hands it whole lines (one
 * write per entry), but a chunk without its newline is held until the rest arrives.
 */
export function prettyStream(sink: LineSink, colors: boolean): LineSink {
  let pending = '';
  return {
    write(chunk: string) {
      pending += chunk;
      let nl: number;
      let out = '';
      while ((nl = pending.indexOf('\n')) >= 0) {
        out += formatLine(pending.slice(0, nl), colors);
        pending = pending.slice(nl + 1);
      }
      return out ? sink.write(out) : true;
    },
  };
}

/** ZIMAGE_LOG_FORMAT: pretty for `pretty`, or for `auto` when stdout is a terminal. */
export function wantsPretty(format: string | undefined, isTTY: boolean | undefined): boolean {
  return format === 'pretty' || ((format ?? 'auto') === 'auto' && isTTY === true);
}
