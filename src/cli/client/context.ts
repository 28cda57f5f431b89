/**
 * What a client command runs with: the API client and where each kind of output goes. stdout
 * carries only results (file paths, listings, or the JSON of --json) so it can be piped;
 * progress, notes and errors go to stderr.
 */
import { DEFAULT_URL, ZImageClient } from '../../client/index.js';
import { UsageError, type Values } from './args.js';

export interface Streams {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export interface Context {
  client: ZImageClient;
  command: string;
  json: boolean;
  quiet: boolean;
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
  /** A result line on stdout (not under --json). */
  out(line: string): void;
  /** The one JSON document of --json, on stdout. */
  printJson(value: unknown): void;
  /** A note or progress line on stderr (silenced by --quiet and by nothing else). */
  info(line: string): void;
  /** A problem, on stderr always. */
  warn(line: string): void;
}

export function createContext(command: string, values: Values, streams: Streams): Context {
  const url = values.url ?? streams.env.ZIMAGE_URL ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got "${url}"`, command);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got "${url}"`, command);
  }
  const apiKey = values.apiKey ?? streams.env.ZIMAGE_API_KEY;
  const quiet = values.quiet ?? false;
  return {
    client: new ZImageClient({ url, apiKey }),
    command,
    json: values.json ?? false,
    quiet,
    stdin: streams.stdin,
    stderr: streams.stderr,
    out: (line) => { if (!values.json) streams.stdout.write(`${line}\n`); },
    printJson: (value) => { streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`); },
    info: (line) => { if (!quiet) streams.stderr.write(`${line}\n`); },
    warn: (line) => { streams.stderr.write(`${line}\n`); },
  };
}
