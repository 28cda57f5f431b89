/**
 * Live event streams of tasks, for Server-Sent Events with reconnects.
 *
 * Only tasks someone has streamed get a channel: a small ring of their recent events,
 * kept while the task is live, so a client that reconnects with Last-Event-ID gets what it
 * missed. A client whose last id is older than the ring (or from before a restart) gets a
 * fresh "state" snapshot instead. Memory is bounded: ringSize events per channel, at most
 * maxChannels channels, and a channel is dropped when its task finishes or nobody has
 * watched it for idleMs. The log holds one queue subscription, and only while a channel exists.
 *
 * Every channel works through one promise chain, so replay, snapshots and live events
 * reach each watcher in id order with nothing missed or doubled.
 */
import { FINAL_STATES, type TaskEvent, type TaskEventType, type TaskPreview, type TaskState } from '../interfaces.js';
import { publicStatus } from './present.js';
import { presentInlinePreview } from './previews.js';
import type { TaskView } from './service.js';

/** A non-final event carries its JSON body; a final one carries the view (its image URLs depend on each client). */
export type StreamEvent =
  | { id: number; type: string; final: false; data: string }
  | { id: number; type: string; final: true; view: TaskView };

export interface Watcher {
  send(event: StreamEvent): void;
  /** The stream ends without a final event (the log is closing or the task vanished). */
  end(): void;
}

export interface EventLogSource {
  subscribe(listener: (event: TaskEvent) => void): () => void;
  view(id: string): Promise<TaskView | undefined>;
  /** The JSON body of a live (queued or running) task; it holds no image URLs, so one rendering serves every client. */
  render(view: TaskView): Promise<Record<string, unknown>>;
  /** The task's latest live preview, sent to a watcher that connects while the task runs. */
  latestPreview?(taskId: string): TaskPreview | undefined;
}

export interface EventLogOptions {
  ringSize: number;
  maxChannels: number;
  idleMs: number;
  /**
   * Re-read watched tasks this often, so a missed event (events are hints in a fleet) cannot
   * leave a stream hanging: a task found final gets its final event, one found in another
   * state its event. Undefined: events alone (embedded, in-process, none are missed).
   */
  recheckMs?: number;
  onError?: (err: unknown) => void;
}

interface Entry {
  id: number;
  type: string;
  data: string;
}

interface Channel {
  taskId: string;
  ring: Entry[];
  /** Every event of this task with an id above floor is in the ring. */
  floor: number;
  watchers: Set<Watcher>;
  chain: Promise<void>;
  closed: boolean;
  state?: TaskState;
  position: number | null;
  refreshPending: boolean;
  idleTimer?: NodeJS.Timeout;
}

/** Events of other tasks that can move a queued task's position. */
const MOVES_QUEUE: ReadonlySet<TaskEventType> = new Set(['started', 'requeued', 'canceled', 'failed']);

export const isFinalView = (view: TaskView) => FINAL_STATES.includes(view.task.state);

export class TaskEventLog {
  private readonly channels = new Map<string, Channel>();
  private unsubscribe: (() => void) | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private lastId = 0;

  constructor(private readonly source: EventLogSource, private readonly opts: EventLogOptions) {}

  /**
   * Event ids: microseconds since the epoch, bumped to stay strictly increasing. They keep
   * increasing across restarts too (the clock moved on), so a reconnect after a restart
   * never sees an id go backwards.
   */
  nextId(): number {
    this.lastId = Math.max(this.lastId + 1, Date.now() * 1000);
    return this.lastId;
  }

  /** Number of channels (tasks with a ring), for tests and metrics. */
  size(): number {
    return this.channels.size;
  }

  /**
   * Streams a live task to `watcher`: what it missed since lastEventId (or a snapshot), then
   * every event until the final one. Returns the function that detaches the watcher.
   */
  watch(taskId: string, lastEventId: number | undefined, watcher: Watcher): () => void {
    const ch = this.channelFor(taskId);
    let attached = true;
    this.enqueue(ch, async () => {
      if (!attached) return;
      if (ch.closed) return watcher.end();
      if (lastEventId !== undefined && lastEventId >= ch.floor && lastEventId <= this.lastId) {
        for (const e of ch.ring) if (e.id > lastEventId) watcher.send({ ...e, final: false });
      } else {
        const view = await this.source.view(taskId);
        if (!attached) return;
        if (ch.closed) return watcher.end();
        if (!view || isFinalView(view)) {
          ch.watchers.add(watcher);
          return view ? this.finish(ch, view) : this.drop(ch);
        }
        const data = await this.body(ch, view);
        if (!attached) return;
        if (ch.closed) return watcher.end();
        watcher.send({ id: this.nextId(), type: 'state', final: false, data });
        // Someone joining a running task sees its picture now, not only from the next preview on.
        const preview = view.task.state === 'running' ? this.source.latestPreview?.(taskId) : undefined;
        if (preview) watcher.send({ id: this.nextId(), type: 'preview', final: false, data: this.previewBody(JSON.parse(data), preview) });
      }
      ch.watchers.add(watcher);
      clearTimeout(ch.idleTimer);
    });
    return () => {
      attached = false;
      ch.watchers.delete(watcher);
      if (ch.watchers.size === 0 && !ch.closed) {
        clearTimeout(ch.idleTimer);
        ch.idleTimer = setTimeout(() => ch.watchers.size === 0 && this.drop(ch), this.opts.idleMs);
        ch.idleTimer.unref();
      }
    };
  }

  /** Ends every stream and lets go of the queue. */
  close(): void {
    for (const ch of [...this.channels.values()]) this.drop(ch);
  }

  private channelFor(taskId: string): Channel {
    const existing = this.channels.get(taskId);
    if (existing) return existing;
    if (this.channels.size >= this.opts.maxChannels) {
      for (const ch of this.channels.values()) {
        if (ch.watchers.size === 0) {
          this.drop(ch);
          break;
        }
      }
    }
    const ch: Channel = {
      taskId, ring: [], floor: this.nextId(), watchers: new Set(), chain: Promise.resolve(),
      closed: false, position: null, refreshPending: false,
    };
    this.channels.set(taskId, ch);
    this.unsubscribe ??= this.source.subscribe((e) => this.onEvent(e));
    if (this.opts.recheckMs && !this.recheckTimer) {
      this.recheckTimer = setInterval(() => this.recheckAll(), this.opts.recheckMs);
      this.recheckTimer.unref();
    }
    return ch;
  }

  private recheckAll(): void {
    for (const ch of this.channels.values()) {
      if (ch.watchers.size === 0 || ch.refreshPending) continue;
      ch.refreshPending = true;
      this.enqueue(ch, () => this.recheck(ch));
    }
  }

  /** The backstop for missed events: the record is the truth. */
  private async recheck(ch: Channel): Promise<void> {
    ch.refreshPending = false;
    if (ch.closed) return;
    const view = await this.source.view(ch.taskId);
    if (ch.closed) return;
    if (!view) return this.drop(ch);
    if (isFinalView(view)) return this.finish(ch, view);
    if (view.task.state !== ch.state) await this.push(ch, view.task.state === 'running' ? 'started' : 'state', view);
  }

  private onEvent(e: TaskEvent): void {
    const own = this.channels.get(e.taskId);
    if (e.type === 'preview') {
      if (own && e.preview) this.enqueue(own, () => this.sendPreview(own, e.preview!));
      return;
    }
    if (own) this.enqueue(own, () => this.record(own, e.type));
    if (!MOVES_QUEUE.has(e.type)) return;
    for (const ch of this.channels.values()) {
      if (ch === own || ch.state !== 'queued' || ch.refreshPending) continue;
      ch.refreshPending = true;
      this.enqueue(ch, () => this.refreshPosition(ch));
    }
  }

  private enqueue(ch: Channel, step: () => Promise<void> | void): void {
    ch.chain = ch.chain.then(step).catch((err) => {
      this.opts.onError?.(err);
      this.drop(ch);
    });
  }

  private async record(ch: Channel, type: TaskEventType): Promise<void> {
    if (ch.closed) return;
    const view = await this.source.view(ch.taskId);
    if (ch.closed) return;
    if (!view) return this.drop(ch);
    // The view is read now, not when the event fired: once it is final, the final event is all that is left to say.
    if (isFinalView(view)) return this.finish(ch, view);
    await this.push(ch, type, view);
  }

  /**
   * A live preview goes to the watchers of this moment only: it is not kept in the ring (a
   * reconnect gets the events it missed, and the latest preview through the snapshot, not a
   * replay of old pictures), and never after the final event.
   */
  private async sendPreview(ch: Channel, preview: TaskPreview): Promise<void> {
    if (ch.closed || ch.watchers.size === 0) return;
    const view = await this.source.view(ch.taskId);
    if (ch.closed) return;
    if (!view) return this.drop(ch);
    if (isFinalView(view)) return this.finish(ch, view);
    if (view.task.state !== 'running') return;
    const body = await this.source.render(view);
    if (ch.closed) return;
    ch.state = view.task.state;
    const event: StreamEvent = { id: this.nextId(), type: 'preview', final: false, data: this.previewBody(body, preview) };
    for (const w of ch.watchers) w.send(event);
  }

  /** The task's JSON with the preview inline (so a client that reads every event as a task still can). */
  private previewBody(body: Record<string, unknown>, preview: TaskPreview): string {
    return JSON.stringify({ ...body, preview: presentInlinePreview(preview) });
  }

  private async refreshPosition(ch: Channel): Promise<void> {
    ch.refreshPending = false;
    if (ch.closed) return;
    const view = await this.source.view(ch.taskId);
    if (ch.closed || !view) return;
    if (isFinalView(view)) return this.finish(ch, view);
    // A task that left the queue gets its own "started" event.
    if (view.task.state === 'queued' && view.queuePosition !== ch.position) await this.push(ch, 'position', view);
  }

  private async body(ch: Channel, view: TaskView): Promise<string> {
    ch.state = view.task.state;
    ch.position = view.queuePosition;
    return JSON.stringify(await this.source.render(view));
  }

  private async push(ch: Channel, type: string, view: TaskView): Promise<void> {
    const entry: Entry = { id: 0, type, data: await this.body(ch, view) };
    if (ch.closed) return;
    entry.id = this.nextId();
    ch.ring.push(entry);
    if (ch.ring.length > this.opts.ringSize) ch.floor = ch.ring.shift()!.id;
    for (const w of ch.watchers) w.send({ ...entry, final: false });
  }

  /** Sends the final event to every watcher and forgets the task: a later reconnect reads the final state. */
  private finish(ch: Channel, view: TaskView): void {
    const event: StreamEvent = { id: this.nextId(), type: publicStatus(view.task), final: true, view };
    const watchers = [...ch.watchers];
    this.forget(ch);
    for (const w of watchers) w.send(event);
  }

  private drop(ch: Channel): void {
    const watchers = [...ch.watchers];
    this.forget(ch);
    for (const w of watchers) w.end();
  }

  private forget(ch: Channel): void {
    ch.closed = true;
    ch.watchers.clear();
    ch.ring = [];
    clearTimeout(ch.idleTimer);
    if (this.channels.get(ch.taskId) === ch) this.channels.delete(ch.taskId);
    if (this.channels.size === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = undefined;
      clearInterval(this.recheckTimer);
      this.recheckTimer = undefined;
    }
  }
}
