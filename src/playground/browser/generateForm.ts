/** The Generate form: prompt and settings in, GenerateParams out; "Use these settings" fills it back. */
import type { GenerateParams } from '../../client/types.js';
import { byId } from './dom.js';
import { bindSeedDice, FormError, numberOf, setValue } from './formFields.js';
import { sizeField } from './sizes.js';
import type { OutputFormat, TaskRequest } from './taskTypes.js';

export class GenerateForm {
  private readonly prompt = byId<HTMLTextAreaElement>('gen-prompt');
  private readonly negative = byId<HTMLInputElement>('gen-negative');
  private readonly n = byId<HTMLSelectElement>('gen-n');
  private readonly seed = byId<HTMLInputElement>('gen-seed');
  private readonly steps = byId<HTMLInputElement>('gen-steps');
  private readonly format = byId<HTMLSelectElement>('gen-format');
  private readonly size = sizeField(byId('gen-size'), byId('gen-custom-size'), byId('gen-width'), byId('gen-height'));
  private readonly error: FormError;

  constructor(private readonly form: HTMLFormElement, submit: (params: GenerateParams) => Promise<void>) {
    // A size error is about the custom fields when they are showing.
    this.error = new FormError(form, byId('gen-error'), (param) => (param === 'size' && !byId('gen-custom-size').hidden ? 'width' : param));
    bindSeedDice(form);
    const button = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      this.error.clear();
      // Disabled while the submit is in flight, so a double click queues one task, not two.
      button.disabled = true;
      try {
        await submit(this.params());
      } catch (err) {
        this.error.show(err);
      } finally {
        button.disabled = false;
      }
    });
  }

  params(): GenerateParams {
    const params: GenerateParams = {
      prompt: this.prompt.value,
      size: this.size.value(),
      n: numberOf(this.n),
      output_format: this.format.value as OutputFormat,
    };
    const negative = this.negative.value.trim();
    if (negative) params.negative_prompt = negative;
    const seed = numberOf(this.seed);
    if (seed !== undefined) params.seed = seed;
    const steps = numberOf(this.steps);
    if (steps !== undefined) params.num_inference_steps = steps;
    return params;
  }

  /** Fills every field from a task's request (the seed too, so the same image comes again). */
  fill(request: TaskRequest): void {
    this.error.clear();
    setValue(this.prompt, request.prompt);
    setValue(this.negative, request.negative_prompt);
    this.size.set(request.size);
    setValue(this.n, request.n ?? 1);
    setValue(this.seed, request.seed);
    setValue(this.steps, request.num_inference_steps);
    setValue(this.format, request.output_format ?? 'png');
  }

  focus(): void {
    this.prompt.focus();
  }

  get element(): HTMLFormElement {
    return this.form;
  }
}
