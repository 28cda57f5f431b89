import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobIdOf, QUEUE_NAME } from './connection.js';

/**
 * Dispatch tickets on BullMQ: one job per queued task, carrying the task id only (prompts
 * stay in Postgres). Adding a ticket that exists is a no-op (the job id is the task's), so
 * re-adding is always safe.
 */
export class Tickets {
  readonly queue: Queue;

  constructor(private readonly redis: Redis, prefix: string) {
    this.queue = new Queue(QUEUE_NAME, {
      connection: redis,
      prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
      streams: { events: { maxLen: 10_000 } },
    });
  }

  /** A ticket handed out at once, or after delayMs (a deferred task). */
  async add(taskId: string, delayMs?: number): Promise<void> {
    await this.queue.add('task', { taskId }, { jobId: jobIdOf(taskId), ...(delayMs ? { delay: delayMs } : {}) });
  }

  /**
   * A fresh ticket for a task recovered from a dead worker. Its old ticket is still "active"
   * in BullMQ; once its lock has run out (it lives as long as our lease) it can be removed at
   * once instead of waiting for BullMQ's stalled check. A ticket still locked stays: the
   * stalled check hands it on, and the Postgres row decides the claim either way.
   */
  async renew(taskId: string): Promise<void> {
    await this.queue.remove(jobIdOf(taskId)).catch(() => undefined);
    await this.add(taskId);
  }

  /** Adds tickets for the tasks that have none; returns the ids it added them for. */
  async ensure(taskIds: string[]): Promise<string[]> {
    if (!taskIds.length) return [];
    const pipeline = this.redis.pipeline();
    for (const id of taskIds) pipeline.exists(this.queue.toKey(jobIdOf(id)));
    const replies = (await pipeline.exec()) ?? [];
    const missing = taskIds.filter((_, i) => replies[i]?.[1] === 0);
    if (missing.length) {
      await this.queue.addBulk(missing.map((taskId) => ({ name: 'task', data: { taskId }, opts: { jobId: jobIdOf(taskId) } })));
    }
    return missing;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
