#!/usr/bin/env -S node --max-semi-space-size=4
// A 4 MB young generation (V8's default is 16 MB per semi-space) keeps RSS ~40 MB lower at
// no measured throughput cost (npm run bench); `npm start` passes the same flag.
import { ConfigError, loadConfig, optionsHelp } from '../config.js';
import { EngineUnavailableError } from '../errors.js';
import { DataDirInUseError } from '../queue/sqlite/open.js';
import { startServer, startWorkerProcess } from '../server.js';

const USAGE = `Usage: zimage <command> [options]

Commands:
  serve              Run the HTTP API and an engine worker (default)
  serve --no-worker  Run the HTTP API only (a fleet's API node; workers run elsewhere)
  worker             Run one engine worker of a fleet (one per GPU: --device cuda:N); needs
                     ZIMAGE_DATABASE_URL and ZIMAGE_REDIS_URL
  help               Show this help

Without ZIMAGE_DATABASE_URL and ZIMAGE_REDIS_URL everything runs embedded in one process
(SQLite in the data directory); with both, processes share Postgres, Redis and storage.

Options (each also an environment variable; flags win):
${optionsHelp()}
`;

/** Graceful stop on SIGTERM/SIGINT; a second signal exits at once. */
function onSignals(handle: { log: { info: Function; warn: Function; error: Function }; close(): Promise<void> }): void {
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      handle.log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    handle.log.info({ signal: sig }, 'signal received, shutting down gracefully (send again to force)');
    handle.close().then(() => process.exit(0), (err) => {
      handle.log.error({ err }, 'error during shutdown');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function serve(argv: string[]): Promise<void> {
  onSignals(await startServer(loadConfig(process.env, argv)));
}

async function worker(argv: string[]): Promise<void> {
  const config = loadConfig(process.env, argv);
  if (!config.databaseUrl) {
    throw new ConfigError('"zimage worker" runs one worker of a fleet and needs ZIMAGE_DATABASE_URL and ZIMAGE_REDIS_URL. ' +
      'On one machine, "zimage serve" already runs the API and a worker together.');
  }
  onSignals(await startWorkerProcess({ ...config, worker: true }));
}

async function main(): Promise<void> {
  const [command = 'serve', ...rest] = process.argv.slice(2);
  if (command === 'help' || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'worker') return worker(rest);
  if (command.startsWith('--')) return serve([command, ...rest]);
  throw new ConfigError(`unknown command "${command}"; run "zimage help"`);
}

main().catch((err) => {
  const known = err instanceof ConfigError || err instanceof EngineUnavailableError || err instanceof DataDirInUseError;
  const hint = err instanceof EngineUnavailableError && err.hint ? `\n  fix: ${err.hint}` : '';
  process.stderr.write(`zimage: ${known ? err.message : (err as Error).stack ?? err}${hint}\n`);
  process.exit(known ? 2 : 1);
});
