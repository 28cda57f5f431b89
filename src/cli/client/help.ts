/**
 * Help text, generated from the command and option tables so that what help says is what the
 * parser accepts. `zimage help` lists client and server commands; `zimage help <command>` (or
 * `zimage <command> --help`) shows one command in full.
 */
import { DEFAULT_URL } from '../../client/index.js';
import { COMMON_OPTIONS, OPTIONS, type OptionKey, type OptionSpec } from './args.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands.js';
import { EXIT_CODES_HELP } from './exit.js';

const WIDTH = 100;
const LABEL = 26;

/** Wraps text to WIDTH, every line after the first indented by `indent`. */
export function wrap(text: string, indent: number, first = indent): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    const room = WIDTH - (lines.length === 0 ? first : indent);
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

function column(label: string, doc: string): string {
  const head = `  ${label}`;
  if (head.length >= LABEL) return `${head}\n${' '.repeat(LABEL)}${wrap(doc, LABEL)}`;
  return `${head.padEnd(LABEL)}${wrap(doc, LABEL)}`;
}

function optionLine(spec: OptionSpec): string {
  const label = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.long}${spec.value ? ` ${spec.value}` : ''}`;
  return column(label, spec.env ? `${spec.doc} Env: ${spec.env}.` : spec.doc);
}

const usageOf = (c: Command) => `zimage ${c.name}${c.args.map((a) => ` <${a.name}>`).join('')} [options]`;

export function commandHelp(c: Command): string {
  const specs = OPTIONS as Record<OptionKey, OptionSpec>;
  const parts = [`Usage: ${usageOf(c)}`, `${c.summary}.${c.description ? `\n${wrap(c.description, 0)}` : ''}`];
  if (c.args.length) parts.push(`Arguments:\n${c.args.map((a) => column(`<${a.name}>`, a.doc)).join('\n')}`);
  if (c.options.length) parts.push(`Options:\n${c.options.map((k) => optionLine(specs[k])).join('\n')}`);
  parts.push(`Common options:\n${COMMON_OPTIONS.map((k) => optionLine(specs[k])).join('\n')}`);
  parts.push(`Examples:\n${c.examples.map((e) => `  ${e}`).join('\n')}`);
  parts.push(EXIT_CODES_HELP);
  return `${parts.join('\n\n')}\n`;
}

export function mainHelp(): string {
  const specs = OPTIONS as Record<OptionKey, OptionSpec>;
  const list = (rows: Array<[string, string]>) => rows.map(([l, d]) => column(l, d)).join('\n');
  return `Usage: zimage <command> [arguments] [options]

Z-Image Server and its command-line client. The client commands talk to a running server
(--url or ZIMAGE_URL, default ${DEFAULT_URL}); the server commands run one.

Client commands:
${list(COMMANDS.map((c) => [`${c.name}${c.args.map((a) => ` <${a.name}>`).join('')}`, c.summary]))}

Server commands:
${list([
    ['serve', 'Run the HTTP API and an engine worker (also what "zimage" alone does)'],
    ['serve --no-worker', 'Run the HTTP API only (a fleet\'s API node; workers run elsewhere)'],
    ['worker', 'Run one engine worker of a fleet (one per GPU: --device cuda:N); needs ZIMAGE_DATABASE_URL and ZIMAGE_REDIS_URL'],
  ])}

Other:
${list([
    ['mcp', 'Run an MCP server over stdio for MCP hosts (Claude Desktop, Cursor, ...), talking to a running server'],
    ['help [command]', 'Show this help, or one command\'s (also: zimage <command> --help)'],
    ['--version', 'Print the version'],
  ])}

Common options of the client commands:
${COMMON_OPTIONS.map((k) => optionLine(specs[k])).join('\n')}

stdout carries only results (the written file paths, listings, or the JSON of --json); progress,
notes and errors go to stderr.

${EXIT_CODES_HELP}

Run "zimage help <command>" for a command's arguments and options, and "zimage help serve" for the
server's options (each also an environment variable).
`;
}
