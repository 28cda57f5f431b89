/**
 * How the page talks back: a polite live region for progress and results (read out by
 * screen readers without moving focus) and dismissible error notices that quote the server,
 * whose messages say what to do.
 */
import { AbortedError, ApiResponseError, ServerUnreachableError } from '../../client/errors.js';
import { byId, h } from './dom.js';

/** The text to show for a failure: the server's own message when it answered. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiResponseError) {
    return err.retryAfterSeconds ? `${err.message} (The server asks to retry in ${err.retryAfterSeconds} s.)` : err.message;
  }
  // Its advice about --url and ZIMAGE_URL is for the CLI; in a browser, reloading is what helps.
  if (err instanceof ServerUnreachableError) return `${err.message.replace(/ Point the client.*$/, '')} Reload the page once it is back.`;
  if (err instanceof Error) return err.message;
  return String(err);
}

export const isAbort = (err: unknown) => err instanceof AbortedError || (err instanceof DOMException && err.name === 'AbortError');

let clearTimer: ReturnType<typeof setTimeout> | undefined;

/** Says `text` through the polite live region. */
export function announce(text: string): void {
  const region = byId('status');
  // Emptying first makes the same message read again when it repeats.
  region.textContent = '';
  clearTimeout(clearTimer);
  requestAnimationFrame(() => {
    region.textContent = text;
    clearTimer = setTimeout(() => { region.textContent = ''; }, 10_000);
  });
}

/** Shows an error notice at the top of the page (an alert region: read out at once). */
export function showError(err: unknown, context?: string): void {
  if (isAbort(err)) return;
  const text = context ? `${context}: ${messageOf(err)}` : messageOf(err);
  const notices = byId('notices');
  // The same failure from several calls at once (a server that went away) is shown once.
  for (const existing of notices.querySelectorAll('.notice p')) if (existing.textContent === text) return;
  const dismiss = h('button', { type: 'button', class: 'secondary small' }, 'Dismiss');
  const notice = h('div', { class: 'notice' }, h('p', {}, text), dismiss);
  dismiss.addEventListener('click', () => notice.remove());
  notices.append(notice);
}

export function clearErrors(): void {
  byId('notices').replaceChildren();
}
