/**
 * Child-process entry: adds finished tasks straight into a running server's SQLite file
 * (WAL lets this second connection write while the server reads). Each seeded row copies
 * the params and result of a task the server really completed, with a fresh id, so a
 * poll of it answers exactly like a poll of a real one. Only the benchmark does this:
 * it is how the RSS check reaches 100,000 finished tasks in seconds. Calls: seed, close.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { announceReady, serveCalls } from './ipc.js';

const db = new Database(path.join(process.argv[2], 'zimage.db'), { timeout: 10_000 });
db.pragma('synchronous = NORMAL');

const templates = db.prepare(`SELECT params, result FROM tasks WHERE state = 'completed' LIMIT 200`);
const insert = db.prepare(
  `INSERT INTO tasks (id, kind, state, params, attempts, max_attempts, result, owner, created_at, started_at, finished_at)
   VALUES (?, 'generate', 'completed', ?, 1, 3, ?, 'anonymous', ?, ?, ?)`,
);

/** Inserts `count` completed tasks in batches; returns their ids. */
function seed({ count }: { count: number }): string[] {
  const rows = templates.all() as { params: string; result: string }[];
  if (!rows.length) throw new Error('no completed task to copy: run some tasks through the server first');
  const ids: string[] = [];
  const batch = db.transaction((n: number) => {
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const id = randomBytes(16).toString('hex');
      const t = rows[ids.length % rows.length];
      insert.run(id, t.params, t.result, now, now, now);
      ids.push(id);
    }
  });
  while (ids.length < count) batch(Math.min(5_000, count - ids.length));
  return ids;
}

serveCalls({ seed, close: () => db.close() });
announceReady({ pid: process.pid });
