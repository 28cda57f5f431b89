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

function repair(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const [str, next] = readString(text, i, c);
      out += str;
      i = next;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j])) j++;
      const word = text.slice(i, j);
      out += PY_LITERALS[word] ?? word;
      i = j;
    } else if (c === ',') {
      // Drop a comma followed only by whitespace and a closing bracket.
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      if (text[j] !== '}' && text[j] !== ']') out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Reads a quoted string starting at `start`, returning it re-quoted with double quotes. */
function readString(text: string, start: number, quote: string): [string, number] {
  let out = '"';
  let i = start + 1;
  while (i < text.length && text[i] !== quote) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      const next = text[i + 1];
      // \' is not a JSON escape: it becomes a plain quote.
      out += next === "'" ? "'" : c + next;
      i += 2;
    } else {
      out += c === '"' ? '\\"' : c;
      i++;
    }
  }
  return [out + '"', i + 1];
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
