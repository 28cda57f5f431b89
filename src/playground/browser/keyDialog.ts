/**
 * The "API key needed" dialog: a native modal <dialog> (focus moves into it, Escape closes
 * it, the page behind is inert), showing the server's reason (missing or wrong key).
 */
import { byId } from './dom.js';

/** Resolves with the key typed in, or undefined when the person cancels. */
export function askForKey(reason: string): Promise<string | undefined> {
  const dialog = byId<HTMLDialogElement>('key-dialog');
  const form = byId<HTMLFormElement>('key-form');
  const input = byId<HTMLInputElement>('key-input');
  const cancel = byId<HTMLButtonElement>('key-cancel');
  byId('key-reason').textContent = reason;
  input.value = '';
  return new Promise((resolve) => {
    const finish = (key: string | undefined) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      if (dialog.open) dialog.close();
      resolve(key);
    };
    const onSubmit = (e: SubmitEvent) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      input.removeAttribute('aria-invalid');
      finish(key);
    };
    const onCancel = () => finish(undefined);
    const onEscape = (e: Event) => {
      e.preventDefault();
      finish(undefined);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onEscape);
    dialog.showModal();
    input.focus();
  });
}
