/**
 * Test helpers: real servers on loopback, in-process or as a subprocess, each with
 * its own temporary data directory (real SQLite files).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type ServerHandle, type ServerOverrides } from '../../src/server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export function tempDir(prefix = 'zimage-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestServer extends ServerHandle {
  dataDir: string;
  config: Config;
}

/**
 * A server configuration for tests and benchmarks: free loopback port, synthetic engine at
 * 0 ms per step, silent logs, a fresh temporary data directory unless one is given.
 */
export function loopbackConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, []),
    port: 0,
    host: '127.0.0.1',
    engine: 'synthetic',
    syntheticStepMs: 0,
    logLevel: 'silent',
    ...overrides,
    dataDir: overrides.dataDir ?? tempDir(),
  };
}

/**
 * Set by test/fleet/http-suites.test.ts to run the existing HTTP suites against a fleet node:
 * every server they start becomes an API node with its own worker on Postgres + BullMQ
 * (a fresh database and Redis prefix each), unless the test chose a mode itself.
 */
const FLEET_PG = process.env.ZIMAGE_TEST_FLEET_POSTGRES;
const FLEET_REDIS = process.env.ZIMAGE_TEST_FLEET_REDIS;
let fleetDatabases = 0;

async function fleetOverrides(): Promise<Partial<Config>> {
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: FLEET_PG });
  await admin.connect();
  const db = `suite_${process.pid}_${++fleetDatabases}`;
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const url = new URL(FLEET_PG!);
  url.pathname = `/${db}`;
  return { databaseUrl: url.toString(), redisUrl: FLEET_REDIS!, redisPrefix: db, webhookSecret: 'fleet-suite-secret' };
}

/** Starts the whole server in this process on a free loopback port (synthetic engine, 0 ms steps). */
export async function startTestServer(
  overrides: Partial<Config> = {},
  extra: ServerOverrides = {},
): Promise<TestServer> {
  const fleet = FLEET_PG && FLEET_REDIS && overrides.databaseUrl === undefined ? await fleetOverrides() : {};
  const config = loopbackConfig({ ...fleet, ...overrides });
  const dataDir = config.dataDir;
  const handle = await startServer(config, { log: extra.log ?? pino({ level: 'silent' }), ...extra });
  return Object.assign(handle, { dataDir, config });
}

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
}

/** Runs `zimage serve` as a real subprocess and waits until it listens. */
export async function spawnServer(env: Record<string, string>, args: string[] = [], timeoutMs = 20_000): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_SYNTHETIC_STEP_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /"url":"(http:\/\/[^"]+)","engine"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
  return { url, child, output: () => out, exited };
}

/**
 * Counts the queue subscriptions held from now on (routes subscribe through the public
 * interface), so a test can prove that none leak.
 */
export function countSubscriptions(server: { queue: ServerHandle['queue'] }): () => number {
  let active = 0;
  const subscribe = server.queue.subscribe.bind(server.queue);
  server.queue.subscribe = (listener) => {
    active++;
    const off = subscribe(listener);
    let done = false;
    return () => {
      if (!done) active--;
      done = true;
      off();
    };
  };
  return () => active;
}
