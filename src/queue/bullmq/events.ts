import { EventEmitter } from 'node:events';
import { QueueEvents, QueueEventsProducer } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskEvent, TaskEventType, TaskEvents, TaskProgress } from '../../interfaces.js';
import type { Logger } from '../../log.js';
import { QUEUE_NAME } from './connection.js';

const EVENT_NAME = 'zimage';

/**
 * Task events across the fleet, on the BullMQ queue's event stream: published with
 * QueueEventsProducer, heard through QueueEvents by every node (this one included, so
 * there is one path and no doubles). Events are hints: consumers re-read the record.
 */
export class FleetEvents implements TaskEvents {
  private readonly local = new EventEmitter();
  private readonly producer: QueueEventsProducer;
  private readonly consumer: QueueEvents;

  constructor(producerConnection: Redis, consumerConnection: Redis, prefix: string, private readonly log: Logger) {
    this.local.setMaxListeners(0);
    this.producer = new QueueEventsProducer(QUEUE_NAME, { connection: producerConnection, prefix });
    this.consumer = new QueueEvents(QUEUE_NAME, { connection: consumerConnection, prefix, blockingTimeout: 5000 });
    // Custom event names are not in BullMQ's typed listener list.
    (this.consumer as unknown as EventEmitter).on(EVENT_NAME, (args: Record<string, string>) => this.deliver(args));
    this.consumer.on('error', (err) => this.log.warn({ err }, 'task event stream error; reconnecting'));
  }

  /** Resolves once this node reads the stream (events published before that are not heard here). */
  ready(): Promise<void> {
    return this.consumer.waitUntilReady().then(() => undefined);
  }

  publish(type: TaskEventType, taskId: string, progress?: TaskProgress): void {
    const fields: Record<string, string> = { eventName: EVENT_NAME, type, taskId, at: String(Date.now()) };
    if (progress) Object.assign(fields, { step: String(progress.step), total: String(progress.total) });
    this.producer.publishEvent(fields as { eventName: string }, 10_000)
      .catch((err) => this.log.warn({ err, type, taskId }, 'could not publish a task event (a hint only: the record is the truth)'));
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.local.on('task', listener);
    return () => this.local.off('task', listener);
  }

  private deliver(args: Record<string, string>): void {
    const event: TaskEvent = { type: args.type as TaskEventType, taskId: args.taskId, at: Number(args.at) };
    if (args.total) event.progress = { step: Number(args.step), total: Number(args.total) };
    try {
      this.local.emit('task', event);
    } catch (err) {
      this.log.error({ err }, 'a task event listener threw');
    }
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    await Promise.allSettled([this.consumer.close(), this.producer.close()]);
  }
}
