import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { WorkQueue } from '../interfaces.js';
import { connect, evictionWarning } from './bullmq/connection.js';
import { FleetEvents } from './bullmq/events.js';
import { reconcileTickets } from './bullmq/reconcile.js';
import { Tickets } from './bullmq/tickets.js';
import { BullWorkQueue } from './bullmq/workQueue.js';
import type { Backend } from './index.js';
import { PgHousekeeping } from './postgres/housekeeping.js';
import { LeaderLock } from './postgres/leader.js';
import { openPool } from './postgres/pool.js';
import { migrate } from './postgres/schema.js';
import { PgTaskStore, type FleetSignals } from './postgres/store.js';

/** Fleet mode: task records in Postgres, tickets and events on BullMQ (Redis). */
export async function openFleet(config: Config, log: Logger): Promise<Backend> {
  const pool = openPool(config.databaseUrl);
  const closers: Array<() => Promise<unknown>> = [() => pool.end()];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => undefined);
  };
  try {
    await migrate(pool);
    const redis = connect(config.redisUrl, 'commands');
    closers.push(async () => redis.quit());
    await redis.ping();
    const warning = await evictionWarning(redis);
    if (warning) log.warn(warning);
    const tickets = new Tickets(connect(config.redisUrl, 'tickets'));
    closers.push(() => tickets.close());
    const events = new FleetEvents(connect(config.redisUrl, 'events-out'), connect(config.redisUrl, 'events-in'), log);
    closers.push(() => events.close());
    await events.ready();
    const signals: FleetSignals = {
      ticket: (taskId) => tickets.add(taskId).catch((err) => {
        log.warn({ err, task: taskId }, 'could not add the dispatch ticket; the reconciler will re-add it');
      }),
      renew: (taskId) => tickets.renew(taskId).catch((err) => {
        log.warn({ err, task: taskId }, 'could not renew the dispatch ticket; the reconciler will re-add it');
      }),
      publish: (type, taskId, progress) => events.publish(type, taskId, progress),
    };
    const store = new PgTaskStore(pool, signals);
    const housekeeping = new PgHousekeeping(pool, signals);
    const leader = new LeaderLock(pool);
    closers.push(() => leader.close());
    let work: Promise<WorkQueue> | undefined;
    const workQueue = () => (work ??= (async () => {
      const q = new BullWorkQueue(pool, connect(config.redisUrl, 'worker'), signals, events, {
        leaseMs: config.leaseSeconds * 1000, maxAttempts: config.maxAttempts, log: log.child({ component: 'work-queue' }),
      });
      closers.push(() => q.close());
      await q.start();
      return q;
    })());
    return {
      mode: 'fleet', store, events, housekeeping, pool, redis,
      workQueue,
      isLeader: () => leader.isLeader(),
      reconcile: async () => {
        const added = await reconcileTickets(housekeeping, tickets);
        if (added) log.warn({ tickets: added }, 're-added dispatch tickets for queued tasks that had none (Redis lost them)');
        return added;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
