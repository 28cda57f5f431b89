import path from 'node:path';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Housekeeping, TaskEvents, TaskStore, WorkQueue } from '../interfaces.js';
import type { Logger } from '../log.js';
import { openFleet } from './fleet.js';
import { lockDataDir, openDatabase } from './sqlite/open.js';
import { SqliteQueue } from './sqlite/queue.js';

/**
 * The queue's roles as one process sees them. Embedded: all four are the SQLite queue.
 * Fleet: Postgres records, BullMQ tickets and events; the work queue only where an engine runs.
 */
export interface Backend {
  mode: 'embedded' | 'fleet';
  store: TaskStore;
  events: TaskEvents;
  housekeeping: Housekeeping;
  /** Opens the work queue (a BullMQ worker in a fleet): only processes that run an engine ask. */
  workQueue(): Promise<WorkQueue>;
  /** Whether this process should run maintenance now: always embedded; the lock holder in a fleet. */
  isLeader(): Promise<boolean>;
  /** Backend-specific maintenance beside recovery and retention (the fleet's ticket reconciler). */
  reconcile(): Promise<number>;
  /** The embedded SQLite database (webhook deliveries live beside the tasks). */
  db?: Database.Database;
  /** The fleet's Postgres pool and a Redis connection for small commands (registry). */
  pool?: pg.Pool;
  redis?: Redis;
  /** Closes everything the backend opened, releasing the data-directory lock last. */
  close(): Promise<void>;
}

/**
 * Opens the configured backend: no ZIMAGE_DATABASE_URL / ZIMAGE_REDIS_URL is the embedded
 * mode (SQLite in the data directory, locked to this process, with every task left
 * `running` by a dead process requeued at once); both set is a fleet (checked by loadConfig).
 */
export async function openBackend(config: Config, log: Logger): Promise<Backend> {
  if (config.databaseUrl && config.redisUrl) return openFleet(config, log);
  const lock = lockDataDir(config.dataDir);
  try {
    const db = openDatabase(path.join(config.dataDir, 'zimage.db'));
    const queue = new SqliteQueue(db, { leaseMs: config.leaseSeconds * 1000 });
    await queue.requeueAllRunning();
    return {
      mode: 'embedded', store: queue, events: queue, housekeeping: queue, db,
      workQueue: async () => queue,
      isLeader: async () => true,
      reconcile: async () => 0,
      close: async () => {
        await queue.close();
        lock.close();
      },
    };
  } catch (err) {
    lock.close();
    throw err;
  }
}
