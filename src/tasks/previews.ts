/**
 * The latest live preview of each running task, in memory on every API node, fed by the task
 * events ('preview' events from the workers, in-process or across the fleet). The poll answer
 * points at it and GET /v1/images/tasks/{id}/preview serves it. Previews are ephemeral: a task's
 * is forgotten when the task ends (or is requeued), when no newer one came for maxAgeMs (a
 * missed final event in a fleet), and the oldest goes first beyond maxEntries. Never stored, never an output.
 */
import type { TaskEvent, TaskEvents, TaskPreview } from '../interfaces.js';

export interface PreviewStoreOptions {
  maxEntries: number;
  maxAgeMs: number;
}

interface Entry {
  preview: TaskPreview;
  at: number;
}

/** Events after which a task has no live preview. */
const ENDS_PREVIEW: ReadonlySet<TaskEvent['type']> = new Set(['completed', 'failed', 'canceled', 'requeued']);

export class PreviewStore {
  private readonly latest = new Map<string, Entry>();
  private readonly unsubscribe: () => void;
  private readonly sweeper: NodeJS.Timeout;

  constructor(events: TaskEvents, private readonly opts: PreviewStoreOptions = { maxEntries: 10_000, maxAgeMs: 5 * 60_000 }) {
    this.unsubscribe = events.subscribe((e) => this.onEvent(e));
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(60_000, opts.maxAgeMs / 2)));
    this.sweeper.unref();
  }

  /** The task's latest preview while it runs, if one came. */
  get(taskId: string): TaskPreview | undefined {
    const entry = this.latest.get(taskId);
    if (!entry) return undefined;
    if (Date.now() - entry.at > this.opts.maxAgeMs) {
      this.latest.delete(taskId);
      return undefined;
    }
    return entry.preview;
  }

  /** Tasks holding a preview now (tests, metrics). */
  size(): number {
    return this.latest.size;
  }

  close(): void {
    this.unsubscribe();
    clearInterval(this.sweeper);
    this.latest.clear();
  }

  private onEvent(e: TaskEvent): void {
    if (e.type === 'preview' && e.preview) {
      const current = this.latest.get(e.taskId);
      if (current && current.preview.step > e.preview.step) return;
      // Re-inserted, so the map's order is oldest update first.
      this.latest.delete(e.taskId);
      this.latest.set(e.taskId, { preview: e.preview, at: Date.now() });
      while (this.latest.size > this.opts.maxEntries) this.latest.delete(this.latest.keys().next().value!);
    } else if (ENDS_PREVIEW.has(e.type)) {
      this.latest.delete(e.taskId);
    }
  }

  private sweep(): void {
    const cutoff = Date.now() - this.opts.maxAgeMs;
    for (const [id, entry] of this.latest) {
      if (entry.at >= cutoff) break; // oldest first: the rest are newer
      this.latest.delete(id);
    }
  }
}

/** The `preview` field of a running task's JSON: where its latest preview is, and what it shows. */
export function presentPreview(taskId: string, preview: TaskPreview, baseUrl: string): Record<string, unknown> {
  return { ...previewShape(preview), url: `${baseUrl}/v1/images/tasks/${taskId}/preview` };
}

/** What a preview shows, in the API's field names. */
function previewShape(preview: TaskPreview) {
  return { step: preview.step, total_steps: preview.total, width: preview.width, height: preview.height, output_format: preview.format };
}

/** The `preview` field of an SSE `preview` event: the same, with the image inline. */
export function presentInlinePreview(preview: TaskPreview): Record<string, unknown> {
  return { ...previewShape(preview), b64_json: preview.data.toString('base64') };
}

/**
 * One store per task queue (that is, per server): the routes that need it (poll, preview, events)
 * share it without a change to the app's wiring. The first caller creates it; close() on app close.
 */
const stores = new WeakMap<object, PreviewStore>();

export function previewStoreFor(events: TaskEvents): { store: PreviewStore; created: boolean } {
  const existing = stores.get(events);
  if (existing) return { store: existing, created: false };
  const store = new PreviewStore(events);
  stores.set(events, store);
  return { store, created: true };
}

export function closePreviewStore(events: TaskEvents): void {
  stores.get(events)?.close();
  stores.delete(events);
}
