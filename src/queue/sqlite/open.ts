import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './schema.js';

/**
 * Data files are the server's user's alone: prompts, uploads and outputs are private to the
 * callers. Directories are made 0700 and files 0600 when this process creates them (an
 * existing directory or file keeps the mode its operator gave it). SQLite gives its -wal and
 * -shm files the database file's mode.
 */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates the file empty and owner-only if it does not exist yet; an existing one is left as it is. */
function createOwnerOnly(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', FILE_MODE));
}

export class DataDirInUseError extends Error {
  constructor(dir: string) {
    super(`another zimage server is already using the data directory ${dir}; stop it or choose another ZIMAGE_DATA_DIR`);
    this.name = 'DataDirInUseError';
  }
}

/**
 * Takes the data directory for this process. The embedded queue assumes one owner, so that
 * any task still `running` at start belonged to a dead process and can be requeued at once.
 * The lock is an exclusive SQLite transaction on a side file: the OS drops it when the process
 * dies, even by SIGKILL, so a crash never leaves a stale lock behind.
 */
export function lockDataDir(dir: string): Database.Database {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  createOwnerOnly(path.join(dir, 'zimage.lock'));
  const lock = new Database(path.join(dir, 'zimage.lock'), { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new DataDirInUseError(dir);
    throw err;
  }
  return lock;
}

/** Opens the task database: WAL for concurrent readers, FULL sync so an accepted task survives power loss. */
export function openDatabase(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: DIR_MODE });
  createOwnerOnly(file);
  const db = new Database(file, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}
