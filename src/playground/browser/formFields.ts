/** What both task forms share: number fields, the seed dice, and showing the server's error at the field it names. */
import { ApiResponseError } from '../../client/errors.js';
import { randomUint32 } from './dom.js';
import { messageOf } from './notices.js';

/** A number field's value; empty means "let the server choose" (undefined). */
export function numberOf(input: HTMLInputElement | HTMLSelectElement): number | undefined {
  const raw = input.value.trim();
  return raw === '' ? undefined : Number(raw);
}

export const setValue = (input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, value: unknown) => {
  input.value = value === undefined || value === null ? '' : String(value);
};

/** Every "Random seed" button fills the seed field it names with a fresh seed. */
export function bindSeedDice(root: ParentNode): void {
  for (const button of root.querySelectorAll<HTMLButtonElement>('button[data-seed-for]')) {
    button.addEventListener('click', () => {
      const input = document.getElementById(button.dataset.seedFor!) as HTMLInputElement | null;
      if (input) input.value = String(randomUint32());
    });
  }
}

/**
 * The form's error line: shows the message (the server's, which says what to fix), marks the
 * field the error names as invalid and moves focus there.
 */
export class FormError {
  private marked: Element | undefined;

  constructor(private readonly form: HTMLFormElement, private readonly line: HTMLElement, private readonly fieldFor: (param: string) => string = (p) => p) {}

  show(err: unknown): void {
    this.clear();
    this.line.textContent = messageOf(err);
    this.line.hidden = false;
    const param = err instanceof ApiResponseError ? err.param : null;
    const field = param ? this.form.elements.namedItem(this.fieldFor(param)) : null;
    if (field instanceof HTMLElement) {
      field.setAttribute('aria-invalid', 'true');
      field.setAttribute('aria-errormessage', this.line.id);
      this.marked = field;
      field.focus();
    }
  }

  clear(): void {
    this.line.hidden = true;
    this.line.textContent = '';
    this.marked?.removeAttribute('aria-invalid');
    this.marked?.removeAttribute('aria-errormessage');
    this.marked = undefined;
  }
}
