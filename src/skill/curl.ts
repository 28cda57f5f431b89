/**
 * curl command lines for the skill document's examples. They are written in one plain
 * form (double-quoted URL and headers, single-quoted JSON, `-F` fields) that an agent can
 * paste into a shell and that test/http/skill.test.ts parses and runs against a server.
 */

export interface CurlOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  /** JSON body, sent with Content-Type: application/json. */
  json?: Record<string, unknown>;
  /** multipart/form-data fields; a value starting with "@" is a file. */
  form?: Array<[string, string]>;
  headers?: Array<[string, string]>;
  /** Save the body to this file (-o). */
  output?: string;
  /** Stream the answer as it comes (-N), for Server-Sent Events. */
  stream?: boolean;
}

/** The example prompts, as in the seed document. */
export const GENERATE_PROMPT = 'A happy cat sitting on a rug, highly detailed, photorealistic';
export const EDIT_PROMPT = 'Make the cat sad';

/** The auth header an example carries when the server requires API keys. */
export const AUTH_HEADER: [string, string] = ['Authorization', 'Bearer YOUR_API_KEY'];

const dq = (s: string) => `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A JSON object on one line, with a space after ':' and ',' as people write it. */
export const jsonLine = (value: Record<string, unknown>) =>
  `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;

export function curl(url: string, opts: CurlOptions = {}): string {
  const parts = ['curl', '-s'];
  if (opts.stream) parts.push('-N');
  const method = opts.method ?? (opts.json || opts.form ? 'POST' : 'GET');
  if (method !== 'GET') parts.push('-X', method);
  parts.push(dq(url));
  for (const [k, v] of opts.headers ?? []) parts.push('-H', dq(`${k}: ${v}`));
  if (opts.json) parts.push('-H', dq('Content-Type: application/json'), '-d', sq(jsonLine(opts.json)));
  for (const [k, v] of opts.form ?? []) parts.push('-F', dq(`${k}=${v}`));
  if (opts.output) parts.push('-o', opts.output);
  return parts.join(' ');
}

export const block = (lang: string, text: string) => ['```' + lang, text, '```'];

/** Pretty JSON as the seed document shows it (2-space indent). */
export const jsonBlock = (value: unknown) => block('json', JSON.stringify(value, null, 2));
