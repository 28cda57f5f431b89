import type pg from 'pg';
import { LOCKS } from './schema.js';

/**
 * Leadership for maintenance: a session-level Postgres advisory lock held on one dedicated
 * connection. Whoever holds it runs recovery, retention and the sweeps; if that process dies,
 * its connection closes and the lock is free for the next one to take at its next try.
 */
export class LeaderLock {
  private client: pg.PoolClient | undefined;
  private closed = false;

  constructor(private readonly pool: pg.Pool) {}

  /** True while this process holds the lock (taking it if free). Never throws. */
  async isLeader(): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (this.client) {
        await this.client.query('SELECT 1'); // still connected, so still holding
        return true;
      }
      const client = await this.pool.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCKS.leader]);
      if (!rows[0].ok || this.closed) {
        client.release(this.closed && rows[0].ok ? true : undefined);
        return false;
      }
      client.on('error', () => this.drop(client));
      this.client = client;
      return true;
    } catch {
      if (this.client) this.drop(this.client);
      return false;
    }
  }

  private drop(client: pg.PoolClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(true); // destroy the connection: a broken session holds no lock
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.leader]).catch(() => undefined);
    client.release();
  }
}
