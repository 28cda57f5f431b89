/**
 * The gallery: every finished image, newest first. It is the server's task list
 * (status=completed), so it survives reloads and restarts, and shows what this key may see.
 * Each image offers download, copy URL, "Use these settings", "Edit this image" and delete.
 */
import { ApiResponseError } from '../../client/errors.js';
import type { Task, TaskImage } from '../../client/types.js';
import type { Api } from './api.js';
import { byId, h, uniqueId } from './dom.js';
import { shortPrompt } from './format.js';
import { announce, showError } from './notices.js';

const PAGE_SIZE = 24;
/** How long a Delete button waits for its confirming second press. */
const CONFIRM_MS = 5000;

export interface GalleryHooks {
  useSettings(task: Task): void;
  editImage(task: Task, image: TaskImage): void;
}

export class Gallery {
  private readonly list = byId<HTMLUListElement>('gallery-list');
  private readonly empty = byId('gallery-empty');
  private readonly more = byId<HTMLButtonElement>('gallery-more');
  private cursor: string | null = null;
  private readonly shown = new Set<string>();

  constructor(private readonly api: Api, private readonly hooks: GalleryHooks) {
    this.more.addEventListener('click', () => this.loadPage().catch((err) => showError(err, 'Could not load more images')));
  }

  /** Empties the gallery and loads the newest page again (throws when the server refuses). */
  async reload(): Promise<void> {
    this.clear();
    await this.loadPage(true);
  }

  clear(): void {
    this.list.replaceChildren();
    this.shown.clear();
    this.cursor = null;
    this.more.hidden = true;
    this.syncEmpty();
  }

  /** A task that just finished goes first. */
  add(task: Task): void {
    if (this.shown.has(task.task_id) || !task.data?.length) return;
    this.shown.add(task.task_id);
    this.list.prepend(...this.cards(task));
    this.syncEmpty();
  }

  private async loadPage(first = false): Promise<void> {
    if (!first && !this.cursor) return;
    this.more.disabled = true;
    try {
      const page = await this.api.call((c) => c.list({ status: 'completed', limit: PAGE_SIZE, cursor: this.cursor ?? undefined }));
      for (const task of page.data) {
        if (this.shown.has(task.task_id) || !task.data?.length) continue;
        this.shown.add(task.task_id);
        this.list.append(...this.cards(task));
      }
      this.cursor = page.next_cursor;
      this.more.hidden = !page.next_cursor;
    } finally {
      this.more.disabled = false;
      this.syncEmpty();
    }
  }

  private cards(task: Task): HTMLLIElement[] {
    return (task.data ?? []).filter((image) => image.url).map((image, i) => this.card(task, image, i));
  }

  private card(task: Task, image: TaskImage, index: number): HTMLLIElement {
    const prompt = task.request?.prompt ?? '';
    const captionId = uniqueId('caption');
    const count = task.data?.length ?? 1;
    const meta = [`${image.width} × ${image.height}`, `seed ${image.seed}`, task.kind === 'edit' ? 'edit' : undefined,
      count > 1 ? `image ${index + 1} of ${count}` : undefined].filter(Boolean).join(' · ');
    const url = image.url!;
    const download = h('a', { href: url, download: `zimage-${task.task_id.slice(0, 8)}-${index + 1}.${image.output_format}`, 'aria-describedby': captionId }, 'Download');
    const copy = button('Copy URL', captionId);
    const reuse = button('Use these settings', captionId);
    const edit = button('Edit this image', captionId);
    const del = button('Delete', captionId, 'danger');
    const card = h('li', { class: 'card', 'data-task-id': task.task_id },
      h('figure', {},
        h('img', { src: url, alt: shortPrompt(prompt, 200), width: image.width, height: image.height, loading: 'lazy', decoding: 'async' }),
        h('figcaption', { id: captionId }, shortPrompt(prompt), h('p', { class: 'meta' }, meta))),
      h('div', { class: 'card-actions' }, download, copy, reuse, edit, del));
    copy.addEventListener('click', () => void copyUrl(url));
    reuse.addEventListener('click', () => this.hooks.useSettings(task));
    edit.addEventListener('click', () => this.hooks.editImage(task, image));
    this.bindDelete(del, task);
    return card;
  }

  /** Delete asks for a second press (it removes every image of the task, for good). */
  private bindDelete(del: HTMLButtonElement, task: Task): void {
    const count = task.data?.length ?? 1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reset = () => {
      clearTimeout(timer);
      del.textContent = 'Delete';
      delete del.dataset.armed;
    };
    del.addEventListener('click', async () => {
      if (del.dataset.armed === undefined) {
        del.textContent = count > 1 ? `Confirm: delete all ${count}` : 'Confirm delete';
        del.dataset.armed = '';
        announce(count > 1 ? `Press again to delete the ${count} images of this task.` : 'Press again to delete this image.');
        timer = setTimeout(reset, CONFIRM_MS);
        return;
      }
      reset();
      del.disabled = true;
      try {
        await this.api.call((c) => c.delete(task.task_id));
      } catch (err) {
        // Already gone (deleted elsewhere, or expired): remove it here too.
        if (!(err instanceof ApiResponseError && err.status === 404)) {
          del.disabled = false;
          showError(err, 'Could not delete the image');
          return;
        }
      }
      this.removeTask(task.task_id);
      announce(count > 1 ? `Deleted ${count} images.` : 'Image deleted.');
    });
    del.addEventListener('blur', () => { if (del.dataset.armed !== undefined) reset(); });
  }

  private removeTask(id: string): void {
    const cards = [...this.list.querySelectorAll<HTMLLIElement>(`li[data-task-id="${CSS.escape(id)}"]`)];
    // Focus moves to the next card's first control (or the heading), not to the top of the page.
    const hadFocus = cards.some((c) => c.contains(document.activeElement));
    const next = cards.at(-1)?.nextElementSibling ?? cards[0]?.previousElementSibling;
    for (const card of cards) card.remove();
    this.shown.delete(id);
    this.syncEmpty();
    if (hadFocus) {
      const target = next?.querySelector<HTMLElement>('a, button') ?? byId('gallery-heading');
      if (target.id === 'gallery-heading') target.tabIndex = -1;
      target.focus();
    }
  }

  private syncEmpty(): void {
    this.empty.hidden = this.list.childElementCount > 0;
  }
}

function button(label: string, describedBy: string, extra = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: `secondary small ${extra}`.trim(), 'aria-describedby': describedBy }, label);
}

/** Copies to the clipboard; on plain-http LAN pages (no Clipboard API) falls back to a selected text field. */
async function copyUrl(url: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(url);
    announce('Image URL copied.');
    return;
  } catch {
    /* not a secure context, or permission refused */
  }
  const back = document.activeElement as HTMLElement | null;
  const field = h('textarea', { class: 'visually-hidden', readonly: true });
  field.value = url;
  document.body.append(field);
  field.select();
  const copied = document.execCommand('copy');
  field.remove();
  back?.focus();
  if (copied) announce('Image URL copied.');
  else showError(new Error(`Copy this URL by hand: ${url}`));
}
