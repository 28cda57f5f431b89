#!/usr/bin/env -S node --max-semi-space-size=4
// A 4 MB young generation (V8's default is 16 MB per semi-space) keeps RSS ~40 MB lower at
// no measured throughput cost (npm run bench); `npm start` passes the same flag.
/**
 * `zimage`: the server (`serve`, `worker`; `zimage` alone serves) and its command-line client
 * (`generate`, `edit`, `wait`, `tasks`, ...). This file only dispatches. The server modules are
 * imported lazily, so client commands start fast and never load Fastify, sharp or the queues.
 */
import { COMMANDS, findCommand, mainHelp, commandHelp, packageVersion, runClientCommand } from './client/index.js';
import { COMMON_OPTIONS, OPTIONS } from './client/args.js';

const SERVER_COMMANDS = ['serve', 'worker'] as const;
type ServerCommand = (typeof SERVER_COMMANDS)[number];
const isServerCommand = (name: string): name is ServerCommand => (SERVER_COMMANDS as readonly string[]).includes(name);

/** The closest command name, for "did you mean". */
function suggest(name: string): string | undefined {
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    return d[a.length][b.length];
  };
  const names = [...COMMANDS.map((c) => c.name), ...SERVER_COMMANDS, 'mcp', 'help'];
  const best = names.map((n) => [n, distance(name, n)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= 2 ? best[0] : undefined;
}

function usageError(message: string): number {
  process.stderr.write(`zimage: ${message}\n`);
  return 2;
}

/** Resolves with an exit code, or undefined while a server command runs on. */
async function main(argv: string[]): Promise<number | undefined> {
  const [command = 'serve', ...rest] = argv;
  const streams = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
  if (isServerCommand(command)) {
    (await import('./server.js')).runServerCommand(command, rest);
    return undefined;
  }
  if (command === 'mcp') return (await import('../mcp/stdio.js')).mcpCommand(rest);
  if (command === '--version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) process.stdout.write(mainHelp());
    else if (isServerCommand(topic)) process.stdout.write((await import('./server.js')).SERVER_USAGE);
    else if (topic === 'mcp') process.stdout.write((await import('../mcp/stdio.js')).MCP_USAGE);
    else if (findCommand(topic)) process.stdout.write(commandHelp(findCommand(topic)!));
    else return usageError(`no command "${topic}"; run "zimage help" for the list`);
    return 0;
  }
  const client = findCommand(command);
  if (client) return runClientCommand(client, rest, streams);
  if (command.startsWith('-')) {
    // `zimage --port 9000` has always meant `zimage serve --port 9000`; a client option in
    // front of a command is a misplaced word, worth a clearer message than serve's.
    const name = command.replace(/^-+/, '').split('=')[0];
    const spec = COMMON_OPTIONS.map((k) => OPTIONS[k]).find((s) => s.long === name || ('short' in s && s.short === name));
    if (spec) return usageError(`put --${spec.long} after the command, e.g. "zimage tasks --${spec.long}${'value' in spec ? ` ${spec.value}` : ''}"; run "zimage help"`);
    (await import('./server.js')).runServerCommand('serve', argv);
    return undefined;
  }
  const guess = suggest(command);
  return usageError(`unknown command "${command}"${guess ? ` (did you mean "${guess}"?)` : ''}; run "zimage help" for the list`);
}

// A closed pipe (`zimage tasks | head -1`, or Ctrl-C reaching the reader of the pipe too) is
// not an error worth a stack trace: drop what is left to write and exit with the command's code.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main(process.argv.slice(2)).then((code) => {
  if (code === undefined) return;
  // Exit once stdout has drained: the fetch keep-alive sockets and a paused stdin would
  // otherwise keep the process alive for a while after the command is done.
  process.exitCode = code;
  if (process.stdout.destroyed) process.exit(code);
  process.stdout.write('', () => process.exit(code));
}, (err) => {
  process.stderr.write(`zimage: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
