import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { WorkQueue } from '../interfaces.js';
import type { Redis } from 'ioredis';
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
  // BullMQ leaves connections it was given open on close: this list closes them, last.
  const connections: Redis[] = [];
  closers.push(async () => { for (const c of connections) c.disconnect(); });
  const connection = (name: string) => {
    const c = connect(config.redisUrl, name);
    connections.push(c);
    return c;
  };
  try {
    await migrate(pool);
    const redis = connection('commands');
    await redis.ping();
    const warning = await evictionWarning(redis);
    if (warning) log.warn(warning);
    const prefix = config.redisPrefix;
    const tickets = new Tickets(connection('tickets'), prefix);
    closers.push(() => tickets.close());
    const events = new FleetEvents(connection('events-out'), connection('events-in'), prefix, log);
    closers.push(() => events.close());
    await events.ready();
    const signals: FleetSignals = {
      ticket: (taskId, delayMs) => tickets.add(taskId, delayMs).catch((err) => {
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
      const q = new BullWorkQueue(pool, connection('worker'), signals, events, {
        prefix, leaseMs: config.leaseSeconds * 1000, maxAttempts: config.maxAttempts, log: log.child({ component: 'work-queue' }),
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
