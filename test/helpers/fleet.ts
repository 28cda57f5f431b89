/**
 * Fleet-mode test setups on real services: a fresh Postgres database and an empty Redis per
 * fleet, API nodes and workers in this process (or as subprocesses, see spawnServer/spawnWorker).
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { pino } from 'pino';
import type { Config } from '../../src/config.js';
import { startWorkerProcess, type WorkerHandle } from '../../src/server.js';
import { CLI, loopbackConfig, startTestServer, tempDir, type TestServer } from './server.js';
import { after, before } from 'node:test';
import { startPostgres, startRedis, type RedisService, type Service } from './services.js';

let databases = 0;

export interface FleetServices {
  postgres: Service;
  redis: RedisService;
}

/** Starts PostgreSQL and Redis for this test file (in its `before`) and stops them after it. */
export function useFleetServices(): FleetServices {
  const services = {} as FleetServices;
  before(async () => {
    [services.postgres, services.redis] = await Promise.all([startPostgres(), startRedis()]);
  });
  after(async () => {
    await Promise.all([services.postgres?.close(), services.redis?.close()]);
  });
  return services;
}

/** A fleet configuration on its own new database and a flushed Redis, with a shared storage directory. */
export async function fleetConfig(postgres: Service, redis: Service, over: Partial<Config> = {}): Promise<Config> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  const db = `fleet_${process.pid}_${++databases}`;
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const url = new URL(postgres.url);
  url.pathname = `/${db}`;
  return loopbackConfig({
    databaseUrl: url.toString(), redisUrl: redis.url, redisPrefix: db, webhookSecret: 'whsec_dGVzdC1maWxlZXQtc2VjcmV0', dataDir: tempDir('zimage-fleet-'), ...over,
  });
}

export interface TestFleet {
  config: Config;
  /** API nodes (serve --no-worker). */
  api: TestServer[];
  workers: WorkerHandle[];
  close(): Promise<void>;
}

/** API nodes and workers in this process, sharing one Postgres database, Redis and storage. */
export async function startFleet(postgres: Service, redis: Service, opts: { apiNodes?: number; workers?: number; config?: Partial<Config> } = {}): Promise<TestFleet> {
  const config = await fleetConfig(postgres, redis, opts.config);
  const log = pino({ level: 'silent' });
  const api: TestServer[] = [];
  const workers: WorkerHandle[] = [];
  const close = async () => {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(api.map((a) => a.close()));
  };
  try {
    for (let i = 0; i < (opts.workers ?? 1); i++) workers.push(await startWorkerProcess({ ...config, worker: true }, { log }));
    for (let i = 0; i < (opts.apiNodes ?? 1); i++) api.push(await startTestServer({ ...config, worker: false }, { log }));
    // The API nodes learn of the workers from the registry (each announces itself on start).
    await waitForWorkers(api[0], workers.length);
  } catch (err) {
    await close();
    throw err;
  }
  return { config, api, workers, close };
}

export async function waitForWorkers(node: TestServer, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = await node.workers.live();
    if (live.filter((w) => w.engineState === 'ready').length >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${live.length} of ${n} workers became live`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Environment for a spawned fleet process with this configuration. */
export function fleetEnv(config: Config, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ZIMAGE_DATABASE_URL: config.databaseUrl, ZIMAGE_REDIS_URL: config.redisUrl, ZIMAGE_DATA_DIR: config.dataDir,
    ZIMAGE_REDIS_PREFIX: config.redisPrefix, ZIMAGE_WEBHOOK_SECRET: config.webhookSecret, ZIMAGE_LEASE_SECONDS: String(config.leaseSeconds), ZIMAGE_LOG_LEVEL: 'info', ...extra,
  };
}

export interface SpawnedWorker {
  pid: number;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<number | string>;
  output: () => string;
}

/** `zimage worker` as a real subprocess; resolves once it has started. */
export async function spawnWorker(env: Record<string, string>, timeoutMs = 20_000): Promise<SpawnedWorker> {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    env: { ...process.env, ZIMAGE_ENGINE: 'synthetic', ZIMAGE_SYNTHETIC_STEP_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      if (out.includes('zimage worker started')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before starting:\n${out}`));
    });
  });
  return { pid: child.pid!, kill: (s) => child.kill(s), exited, output: () => out };
}
