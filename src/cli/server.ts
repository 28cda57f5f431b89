/**
 * The server commands: `zimage serve` (also `zimage` alone) and `zimage worker`. Kept apart from
 * the client commands so that `zimage generate` does not load Fastify, sharp, the queues and the
 * S3 SDK just to make a few HTTP calls: main.ts imports this module only when it serves.
 */
import { ConfigError, environmentWarnings, loadConfig, optionsHelp } from '../config.js';
import { reloadApiKeys } from '../http/auth.js';
import { EngineUnavailableError } from '../errors.js';
import { DataDirInUseError } from '../queue/sqlite/open.js';
import { startServer, startWorkerProcess } from '../server.js';
import { ListenError } from '../portCheck.js';

export const SERVER_USAGE = `Usage: zimage <command> [options]

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

/** Start-up warnings about the environment: ZIMAGE_* variables nothing reads, a client key on a server. */
function warnAboutEnvironment(log: { warn: Function }, config?: Parameters<typeof environmentWarnings>[1]): void {
  for (const warning of environmentWarnings(process.env, config)) log.warn(warning);
}

async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(process.env, argv);
  const handle = await startServer(config);
  warnAboutEnvironment(handle.log, config);
  onSignals(handle);
  // SIGHUP re-reads ZIMAGE_API_KEYS_FILE (the daemon convention) instead of ending the server.
  process.on('SIGHUP', () => reloadApiKeys(handle.app));
}

async function worker(argv: string[]): Promise<void> {
  const config = loadConfig(process.env, argv);
  if (!config.databaseUrl) {
    throw new ConfigError('"zimage worker" runs one worker of a fleet and needs ZIMAGE_DATABASE_URL and ZIMAGE_REDIS_URL. ' +
      'On one machine, "zimage serve" already runs the API and a worker together.');
  }
  const handle = await startWorkerProcess({ ...config, worker: true });
  warnAboutEnvironment(handle.log);
  onSignals(handle);
}

/**
 * Runs `serve` or `worker` with their flags; `--help` anywhere among them prints the server
 * help (as it always has). Start-up errors print one line and exit 2 (a known mistake: bad
 * option, engine unavailable, data directory or port in use) or 1 (anything else, with its stack).
 */
export function runServerCommand(command: 'serve' | 'worker', argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVER_USAGE);
    return;
  }
  (command === 'serve' ? serve(argv) : worker(argv)).catch((err) => {
    const known = err instanceof ConfigError || err instanceof EngineUnavailableError || err instanceof DataDirInUseError
      || err instanceof ListenError;
    const hint = err instanceof EngineUnavailableError && err.hint ? `\n  fix: ${err.hint}` : '';
    process.stderr.write(`zimage: ${known ? err.message : (err as Error).stack ?? err}${hint}\n`);
    process.exit(known ? 2 : 1);
  });
}
