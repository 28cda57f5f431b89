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

  constructor(private readonly redis: Redis) {
    this.queue = new Queue(QUEUE_NAME, {
      connection: redis,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
      streams: { events: { maxLen: 10_000 } },
    });
  }

  async add(taskId: string): Promise<void> {
    await this.queue.add('task', { taskId }, { jobId: jobIdOf(taskId) });
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
