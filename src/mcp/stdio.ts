/**
 * `zimage mcp`: an MCP server over stdio for MCP hosts (Claude Desktop, Cursor, VS Code, ...),
 * talking to a running Z-Image Server through the typed API client. stdout carries MCP
 * JSON-RPC only; everything else goes to stderr.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { DEFAULT_URL, ZImageClient } from '../client/index.js';
import { ConfigError } from '../config.js';
import { connectMcpServer, DEFAULT_WAIT_SECONDS } from './tools.js';

export const MCP_USAGE = `Usage: zimage mcp [--url URL] [--api-key KEY] [--wait-seconds N]

Runs an MCP server over stdio (for Claude Desktop, Cursor, VS Code and other MCP hosts) that
talks to a running Z-Image Server. Tools: generate_image, edit_image, get_task, cancel_task,
list_tasks. Only MCP messages go to stdout; logs go to stderr.

Options (each also an environment variable; flags win):
  --url URL           ZIMAGE_URL               default: ${DEFAULT_URL}
      The Z-Image Server to use.
  --api-key KEY       ZIMAGE_API_KEY           default: (none)
      The server's API key, when it has ZIMAGE_API_KEYS set (prefer the variable: flags show in ps).
  --wait-seconds N    ZIMAGE_MCP_WAIT_SECONDS  default: ${DEFAULT_WAIT_SECONDS}
      How long generate_image and edit_image wait for their images (0-3600) before answering
      the task id instead (then get_task fetches them). Keep it below your MCP host's tool-call
      timeout (often 60 s).
`;

export interface StdioOptions {
  url: string;
  apiKey?: string;
  waitSeconds: number;
  stdin?: Readable;
  stdout?: Writable;
}

/** Base64 images in tool arguments make large messages: allow a full-size upload and mask. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const log = (message: string) => process.stderr.write(`zimage mcp: ${message}\n`);

function parseWait(raw: string, source: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 3600) {
    throw new ConfigError(`${source} must be a number of seconds from 0 to 3600, got "${raw}"`);
  }
  return n;
}

/** The options of `zimage mcp` from its flags and the environment; undefined for --help. */
export function parseMcpArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): StdioOptions | undefined {
  const opts: StdioOptions = {
    url: env.ZIMAGE_URL || DEFAULT_URL,
    apiKey: env.ZIMAGE_API_KEY || undefined,
    waitSeconds: env.ZIMAGE_MCP_WAIT_SECONDS ? parseWait(env.ZIMAGE_MCP_WAIT_SECONDS, 'ZIMAGE_MCP_WAIT_SECONDS') : DEFAULT_WAIT_SECONDS,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h' || arg === 'help') return undefined;
    const eq = arg.indexOf('=');
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const value = () => {
      const v = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new ConfigError(`${name} needs a value; run "zimage mcp --help"`);
      return v;
    };
    if (name === '--url') opts.url = value();
    else if (name === '--api-key') opts.apiKey = value() || undefined;
    else if (name === '--wait-seconds') opts.waitSeconds = parseWait(value(), '--wait-seconds');
    else throw new ConfigError(`unknown option ${arg} for "zimage mcp"; run "zimage mcp --help"`);
  }
  try {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(`the server URL must be an http(s) URL such as ${DEFAULT_URL}, got "${opts.url}"`);
  }
  return opts;
}

/** Serves MCP on stdin/stdout until stdin ends; resolves once connected. */
export async function runStdio(opts: StdioOptions): Promise<{ close(): Promise<void> }> {
  const client = new ZImageClient({ url: opts.url, apiKey: opts.apiKey });
  const stopping = new AbortController();
  const transport = new StdioServerTransport(opts.stdin, opts.stdout, { maxBufferSize: MAX_MESSAGE_BYTES });
  transport.onerror = (err) => log(`transport error: ${err.message}`);
  const server = await connectMcpServer(transport, {
    client, waitSeconds: opts.waitSeconds, localFiles: true, stopping: stopping.signal,
    authHint: 'Set the key in this MCP server\'s configuration: the ZIMAGE_API_KEY environment variable (or --api-key).',
  });
  const stdin = opts.stdin ?? process.stdin;
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    stopping.abort();
    await server.close().catch(() => undefined);
  })());
  stdin.once('end', () => void close());
  stdin.once('close', () => void close());
  log(`serving MCP on stdio for ${client.url}${opts.apiKey ? ' (with an API key)' : ''}; tools wait up to ${opts.waitSeconds} s`);
  // A wrong address is worth a line on stderr now; tool calls report it too.
  client.health({ signal: AbortSignal.timeout(5000) }).catch((err: Error) => log(`warning: ${err.message}`));
  return { close };
}

/**
 * `zimage mcp [options]`: prints its own help (0), refuses bad options (2), or serves until the
 * host closes stdin (undefined while it runs, as the server commands do).
 */
export async function mcpCommand(argv: string[]): Promise<number | undefined> {
  let opts: StdioOptions | undefined;
  try {
    opts = parseMcpArgs(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`zimage mcp: ${err.message}\n`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(MCP_USAGE);
    return 0;
  }
  const { close } = await runStdio(opts);
  const exit = () => void close().finally(() => process.exit(0));
  process.stdin.once('end', exit);
  process.once('SIGTERM', exit);
  process.once('SIGINT', exit);
  return undefined;
}
