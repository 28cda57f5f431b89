import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Config } from '../config.js';
import type { Queue } from '../interfaces.js';
import { lockDataDir, openDatabase } from './sqlite/open.js';
import { SqliteQueue } from './sqlite/queue.js';

export interface OpenedQueue {
  queue: Queue;
  /** Releases what opening took (the data-directory lock). */
  release(): void;
  /** The embedded queue's SQLite database, for features that keep their own tables beside the tasks (webhooks). */
  db?: Database.Database;
}

/**
 * Opens the configured queue. Embedded: SQLite in the data directory, locked to this
 * process, with every task left `running` by a dead process requeued at once.
 */
export async function openQueue(config: Config): Promise<OpenedQueue> {
  const lock = lockDataDir(config.dataDir);
  const db = openDatabase(path.join(config.dataDir, 'zimage.db'));
  const queue = new SqliteQueue(db, { leaseMs: config.leaseSeconds * 1000 });
  await queue.requeueAllRunning();
  return { queue, release: () => lock.close(), db };
}
