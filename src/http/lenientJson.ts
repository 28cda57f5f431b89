import type { FastifyInstance } from 'fastify';
import { invalid } from '../errors.js';

/**
 * JSON as LLM agents actually write it. Strict JSON is tried first (the fast path);
 * only when that fails is the text repaired: Python literals (True, False, None),
 * single-quoted strings and trailing commas. Anything still unparseable throws.
 */
export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (strictError) {
    const repaired = repair(text);
    if (repaired === text) throw strictError;
    return JSON.parse(repaired);
  }
}

const PY_LITERALS: Record<string, string> = { True: 'true', False: 'false', None: 'null' };

/*
 * The repair works on runs, not characters: a body can be tens of MB (a base64 image), and
 * appending it one character at a time once cost seconds of CPU and gigabytes for a single
 * unparseable 50 MB body. Each regex below is sticky, so it matches exactly where it is put.
 */
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const SPACE = /\s*/y;
/** Everything the repair leaves alone: up to the next quote, word or comma. */
const PLAIN = /[^"'A-Za-z_,]+/y;
/** Where a string's plain run ends: its closing quote, an escape, or (in a single-quoted string) a double quote. */
const STRING_STOP = { '"': /["\\]/g, "'": /['"\\]/g } as const;

const at = (re: RegExp, text: string, i: number) => {
  re.lastIndex = i;
  re.exec(text);
  return re.lastIndex;
};

function repair(text: string): string {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = readString(text, i, c, out);
    } else if (/[A-Za-z_]/.test(c)) {
      const end = at(WORD, text, i);
      const word = text.slice(i, end);
      out.push(Object.hasOwn(PY_LITERALS, word) ? PY_LITERALS[word] : word);
      i = end;
    } else if (c === ',') {
      // Drop a comma followed only by whitespace and a closing bracket.
      const next = text[at(SPACE, text, i + 1)];
      if (next !== '}' && next !== ']') out.push(c);
      i++;
    } else {
      const end = at(PLAIN, text, i);
      out.push(text.slice(i, end));
      i = end;
    }
  }
  return out.join('');
}

/** Appends the quoted string starting at `start`, re-quoted with double quotes; returns the index after it. */
function readString(text: string, start: number, quote: '"' | "'", out: string[]): number {
  const stop = STRING_STOP[quote];
  out.push('"');
  let i = start + 1;
  for (;;) {
    stop.lastIndex = i;
    const m = stop.exec(text);
    if (!m) {
      // Unterminated: the rest is the string.
      out.push(text.slice(i), '"');
      return text.length + 1;
    }
    out.push(text.slice(i, m.index));
    const c = m[0];
    if (c === quote) {
      out.push('"');
      return m.index + 1;
    }
    if (c === '"') {
      out.push('\\"'); // a double quote inside a single-quoted string
      i = m.index + 1;
    } else if (m.index + 1 < text.length) {
      // \' is not a JSON escape: it becomes a plain quote.
      const next = text[m.index + 1];
      out.push(next === "'" ? "'" : c + next);
      i = m.index + 2;
    } else {
      out.push(c); // a lone backslash at the very end
      i = m.index + 1;
    }
  }
}

/**
 * Makes every JSON route parse bodies leniently, with errors in our shape. text/plain is
 * refused with 415 rather than half-parsed: callers must say they send JSON.
 */
export function installLenientJson(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const parse = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = body.toString();
    if (!text.trim()) return done(invalid('invalid_json', 'The request body is empty. Send a JSON object, e.g. {"prompt": "a cat"}.'));
    try {
      done(null, parseLenientJson(text));
    } catch (err) {
      done(invalid('invalid_json', `The request body is not valid JSON (${(err as Error).message}). Send a JSON object, e.g. {"prompt": "a cat"}.`));
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: 'string' }, parse);
}
