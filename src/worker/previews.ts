/**
 * Live previews of the task a worker runs: the engine offers small raw pictures, this encodes
 * them (WebP, at most 256 px) off the engine's path and publishes them through the work queue
 * as 'preview' events. Nothing here is stored. At most one encode is in flight and at most one
 * preview goes out per MIN_INTERVAL_MS; a newer offer replaces one still waiting, so a slow
 * encode or a fast engine never queues work up, and the latest picture is the one that goes out.
 */
import { encodePreview } from '../images/preview.js';
import type { Claim, EnginePreview, TaskPreview, WorkQueue } from '../interfaces.js';
import type { Logger } from '../log.js';

/** At most this often per task (ten a second), whatever the step rate. */
export const MIN_PREVIEW_INTERVAL_MS = 100;

export class PreviewPublisher {
  private waiting: EnginePreview | undefined;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;
  private closed = false;
  private lastStep = 0;
  /** Previews published so far (for logs and tests). */
  published = 0;

  constructor(
    private readonly queue: WorkQueue & { preview(claim: Claim, preview: TaskPreview): void },
    private readonly claim: Claim,
    private readonly log: Logger,
    private readonly minIntervalMs = MIN_PREVIEW_INTERVAL_MS,
  ) {}

  /** Takes the engine's picture; returns at once (the engine must not wait for previews). */
  offer(preview: EnginePreview): void {
    if (this.closed || preview.step <= this.lastStep) return;
    this.waiting = preview;
    this.schedule();
  }

  /**
   * No more previews: called before the task's final write, so none can follow it. An encode
   * still running is dropped when it finishes.
   */
  close(): void {
    this.closed = true;
    this.waiting = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.closed || this.busy || this.timer || !this.waiting) return;
    const wait = this.lastAt + this.minIntervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      this.timer.unref();
      return;
    }
    const next = this.waiting;
    this.waiting = undefined;
    this.busy = true;
    this.lastAt = Date.now();
    encodePreview(next.image).then((encoded) => {
      if (this.closed) return;
      this.lastStep = next.step;
      this.queue.preview(this.claim, { step: next.step, total: next.total, ...encoded });
      this.published++;
    }).catch((err) => {
      this.log.warn({ err, task: this.claim.task.id }, 'could not encode a live preview (the task is unaffected)');
    }).finally(() => {
      this.busy = false;
      this.schedule();
    });
  }
}
