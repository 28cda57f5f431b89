import { EventEmitter } from 'node:events';
import { QueueEvents, QueueEventsProducer } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskEvent, TaskEventType, TaskEvents, TaskPreview, TaskProgress } from '../../interfaces.js';
import type { Logger } from '../../log.js';
import { QUEUE_NAME } from './connection.js';

const EVENT_NAME = 'zimage';
/**
 * The stream's length (approximately) after a preview is added. Previews carry their image
 * (a few KB to a few tens of KB in base64), so the stream that holds them is kept short: about
 * MAX_STREAM_WITH_PREVIEWS entries, a few MB at most. Readers follow the stream live (nobody
 * replays it), so entries older than a thousand events are of no use to anyone.
 */
const MAX_STREAM_WITH_PREVIEWS = 1000;
/** A preview larger than this is not published (a preview is at most 256 px: this is far above any). */
const MAX_PREVIEW_BYTES = 256 * 1024;

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

  /**
   * A live preview, for every node's SSE streams and poll answers. On the same stream as the
   * other events, so a node hears it in order: never after the task's final event.
   */
  publishPreview(taskId: string, preview: TaskPreview): void {
    if (preview.data.length > MAX_PREVIEW_BYTES) return;
    const fields: Record<string, string> = {
      eventName: EVENT_NAME, type: 'preview', taskId, at: String(Date.now()),
      step: String(preview.step), total: String(preview.total), width: String(preview.width), height: String(preview.height),
      format: preview.format, image: preview.data.toString('base64'),
    };
    this.producer.publishEvent(fields as { eventName: string }, MAX_STREAM_WITH_PREVIEWS)
      .catch((err) => this.log.warn({ err, taskId }, 'could not publish a live preview (previews are best effort)'));
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.local.on('task', listener);
    return () => this.local.off('task', listener);
  }

  private deliver(args: Record<string, string>): void {
    const event: TaskEvent = { type: args.type as TaskEventType, taskId: args.taskId, at: Number(args.at) };
    if (args.type === 'preview') {
      if (!args.image || args.format !== 'webp') return;
      event.preview = {
        step: Number(args.step), total: Number(args.total), width: Number(args.width), height: Number(args.height),
        format: 'webp', data: Buffer.from(args.image, 'base64'),
      };
    } else if (args.total) {
      event.progress = { step: Number(args.step), total: Number(args.total) };
    }
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
