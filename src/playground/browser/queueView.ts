/**
 * The live queue: every task still processing, with its queue position, a progress bar, the
 * ETA and a Cancel button. Tasks are followed through the events stream (client.wait), but
 * at most MAX_STREAMS at once: a browser opens only six HTTP/1.1 connections per server, and
 * streams that held them all would stall every other call. Tasks beyond that are refreshed
 * by one list request every POLL_MS until a stream is free for them.
 */
import { ApiResponseError } from '../../client/errors.js';
import type { Task } from '../../client/types.js';
import type { Api } from './api.js';
import { byId, h, uniqueId } from './dom.js';
import { etaText, percentOf, shortPrompt, stateText } from './format.js';
import { announce, isAbort, messageOf, showError } from './notices.js';

const MAX_STREAMS = 3;
const POLL_MS = 1500;

interface Tracked {
  id: string;
  prompt: string;
  item: HTMLLIElement;
  /** The state line: words (then the ETA), or the failure. */
  line: HTMLParagraphElement;
  words: HTMLSpanElement;
  eta: HTMLSpanElement;
  bar: HTMLDivElement;
  fill: HTMLDivElement;
  /** The latest live preview (a small picture of the unfinished image), shown once one arrives. */
  preview: HTMLImageElement;
  cancel: HTMLButtonElement;
  streaming: boolean;
  done: boolean;
  stop: AbortController;
}

export interface QueueHooks {
  /** A task finished with images. */
  completed(task: Task): void;
}

export class QueueView {
  private readonly tracked = new Map<string, Tracked>();
  private readonly list = byId<HTMLUListElement>('queue-list');
  private readonly empty = byId('queue-empty');
  private polling = false;

  constructor(private readonly api: Api, private readonly hooks: QueueHooks) {}

  /** Adds a task (just submitted, or found processing on load) and starts following it. */
  track(id: string, prompt: string, task?: Task): void {
    if (this.tracked.has(id)) return;
    const t = this.item(id, prompt);
    this.tracked.set(id, t);
    this.list.append(t.item);
    this.syncEmpty();
    if (task) this.render(t, task);
    this.pump();
  }

  /** Picks up the tasks still processing on the server (after a reload), oldest first. */
  async restore(): Promise<void> {
    const found = await this.api.call((c) => collect(c.tasks({ status: 'processing', limit: 100 })));
    for (const task of found.reverse()) this.track(task.task_id, task.request?.prompt ?? '', task);
  }

  /** Stops following everything and empties the list (the key was forgotten). */
  clear(): void {
    for (const t of this.tracked.values()) t.stop.abort();
    this.tracked.clear();
    this.list.replaceChildren();
    this.syncEmpty();
  }

  private item(id: string, prompt: string): Tracked {
    const promptId = uniqueId('queue-prompt');
    const words = h('span', {}, 'Submitting…');
    const eta = h('span', { class: 'queue-eta' });
    const line = h('p', { class: 'queue-state' }, words, eta);
    const fill = h('div', { class: 'progress-fill' });
    const bar = h('div', {
      class: 'progress', role: 'progressbar', 'aria-labelledby': promptId,
      'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-valuetext': 'Waiting in the queue',
    }, fill);
    const cancel = h('button', { type: 'button', class: 'secondary small danger', 'aria-describedby': promptId }, 'Cancel');
    const preview = h('img', { class: 'queue-preview', alt: '', width: 96, height: 96 });
    preview.hidden = true;
    const item = h('li', { class: 'queue-item', 'data-task-id': id },
      h('div', { class: 'queue-head' }, h('p', { class: 'queue-prompt', id: promptId }, shortPrompt(prompt)), cancel),
      preview, bar, line);
    const t: Tracked = { id, prompt, item, line, words, eta, bar, fill, preview, cancel, streaming: false, done: false, stop: new AbortController() };
    cancel.addEventListener('click', () => void this.cancel(t));
    return t;
  }

  private render(t: Tracked, task: Task): void {
    if (t.done) return;
    if (task.status !== 'processing') return this.finish(t, task);
    const pct = percentOf(task);
    const words = stateText(task);
    t.words.textContent = words;
    const eta = etaText(task.eta_seconds);
    t.eta.textContent = eta ? ` · ${eta}` : '';
    t.fill.style.width = `${pct}%`;
    t.bar.setAttribute('aria-valuenow', String(pct));
    t.bar.setAttribute('aria-valuetext', `${pct}%: ${words}`);
    if (task.cancel_requested) t.cancel.disabled = true;
    this.showPreview(t, task);
  }

  /**
   * Preview events carry the picture inline (a data: URL, which the page's CSP allows); a
   * poll answer only points at it, behind the API key an <img> cannot send, so the page
   * shows previews from its event streams only.
   */
  private showPreview(t: Tracked, task: Task): void {
    const p = task.preview;
    if (!p?.b64_json) return;
    t.preview.src = `data:image/${p.output_format};base64,${p.b64_json}`;
    t.preview.width = p.width;
    t.preview.height = p.height;
    t.preview.alt = `Preview of the unfinished image at step ${p.step} of ${p.total_steps}`;
    t.preview.hidden = false;
  }

  /** Starts streams for the oldest tasks not yet followed; polls for the rest. */
  private pump(): void {
    const open = () => [...this.tracked.values()].filter((t) => !t.done && !t.streaming);
    let streams = [...this.tracked.values()].filter((t) => t.streaming).length;
    for (const t of open()) {
      if (streams >= MAX_STREAMS) break;
      streams++;
      void this.follow(t); // marks it streaming at once
    }
    if (open().length > 0 && !this.polling) void this.poll();
  }

  private async follow(t: Tracked): Promise<void> {
    t.streaming = true;
    try {
      const task = await this.api.call((c) => c.wait(t.id, { signal: t.stop.signal, onUpdate: (update) => this.render(t, update) }));
      this.render(t, task);
    } catch (err) {
      if (isAbort(err) || t.done) return;
      if (err instanceof ApiResponseError && err.status === 404) return this.remove(t, `Task no longer exists: ${shortPrompt(t.prompt)}`);
      // The task may well be running still: say that we lost it, not that it failed.
      this.fail(t, messageOf(err), 'Lost track of this task');
    } finally {
      t.streaming = false;
      if (this.tracked.has(t.id)) this.pump();
    }
  }

  /** One list request refreshes every task waiting for a stream; one that left the list has finished. */
  private async poll(): Promise<void> {
    this.polling = true;
    try {
      for (;;) {
        const waiting = () => [...this.tracked.values()].filter((t) => !t.done && !t.streaming);
        if (waiting().length === 0) return;
        await new Promise((r) => setTimeout(r, POLL_MS));
        const processing = new Map<string, Task>();
        try {
          for (const task of await this.api.call((c) => collect(c.tasks({ status: 'processing', limit: 100 })))) processing.set(task.task_id, task);
        } catch (err) {
          showError(err, 'Could not refresh the queue');
          continue;
        }
        for (const t of waiting()) {
          const task = processing.get(t.id);
          if (task) this.render(t, task);
          else void this.api.call((c) => c.get(t.id)).then((final) => this.render(t, final), () => undefined);
        }
      }
    } finally {
      this.polling = false;
    }
  }

  private async cancel(t: Tracked): Promise<void> {
    t.cancel.disabled = true;
    t.cancel.textContent = 'Canceling…';
    try {
      const task = await this.api.call((c) => c.cancel(t.id));
      this.render(t, task);
    } catch (err) {
      // 409: it finished first; its stream reports how.
      if (err instanceof ApiResponseError && err.status === 409) return;
      t.cancel.disabled = false;
      t.cancel.textContent = 'Cancel';
      showError(err, `Could not cancel “${shortPrompt(t.prompt, 40)}”`);
    }
  }

  private finish(t: Tracked, task: Task): void {
    if (t.done) return;
    if (task.status === 'completed') {
      this.remove(t, `Finished: ${shortPrompt(t.prompt)}`);
      this.hooks.completed(task);
    } else if (task.status === 'canceled') {
      this.remove(t, `Canceled: ${shortPrompt(t.prompt)}`);
    } else {
      this.fail(t, task.error?.message ?? 'The task failed.');
    }
  }

  /** Keeps a failed task in the list with its reason until dismissed. */
  private fail(t: Tracked, message: string, heading = 'Failed'): void {
    t.done = true;
    t.stop.abort();
    t.item.classList.add('failed');
    t.bar.remove();
    t.line.replaceChildren(h('span', { class: 'queue-error' }, `${heading}: ${message}`));
    const dismiss = h('button', { type: 'button', class: 'secondary small', 'aria-describedby': t.bar.getAttribute('aria-labelledby') }, 'Dismiss');
    dismiss.addEventListener('click', () => this.remove(t));
    t.cancel.replaceWith(dismiss);
    announce(`${heading}: ${shortPrompt(t.prompt)}. ${message}`);
  }

  private remove(t: Tracked, message?: string): void {
    t.done = true;
    t.stop.abort();
    // Focus on a removed Cancel button would fall to the page: give it to the list's heading.
    const hadFocus = t.item.contains(document.activeElement);
    t.item.remove();
    this.tracked.delete(t.id);
    this.syncEmpty();
    if (hadFocus) focusHeading();
    if (message) announce(message);
  }

  private syncEmpty(): void {
    this.empty.hidden = this.tracked.size > 0;
  }
}

function focusHeading(): void {
  const heading = byId('queue-heading');
  heading.tabIndex = -1;
  heading.focus();
}

/** All items of a paged listing (as one async iterable, so Api.call can retry it whole after a 401). */
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
