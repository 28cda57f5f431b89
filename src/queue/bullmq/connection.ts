import { Redis } from 'ioredis';

/** The BullMQ queue that carries tickets and events; one per fleet. */
export const QUEUE_NAME = 'zimage-tasks';
/** BullMQ refuses all-digit job ids, and a prefix says what the job is: a ticket for one task. */
export const jobIdOf = (taskId: string) => `t_${taskId}`;

/**
 * A Redis connection as BullMQ wants it: commands wait for a reconnect instead of failing
 * after a few retries (maxRetriesPerRequest: null), so a Redis restart delays and loses nothing.
 */
export function connect(url: string, name: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, connectionName: `zimage:${name}` });
  redis.on('error', () => undefined); // reconnects by itself; callers see their own command errors
  return redis;
}

/**
 * BullMQ needs Redis to keep every key: with an evicting maxmemory-policy a ticket or a
 * lock can vanish under memory pressure. Returns a warning to log, or null when it is safe.
 */
export async function evictionWarning(redis: Redis): Promise<string | null> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy === 'noeviction') return null;
    return `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may evict BullMQ tickets and locks. ` +
      'Tasks are not lost (the reconciler re-adds tickets from Postgres) but are delayed. Set "maxmemory-policy noeviction" in redis.conf.';
  } catch (err) {
    return `Could not read Redis maxmemory-policy (${(err as Error).message}); make sure it is "noeviction".`;
  }
}
