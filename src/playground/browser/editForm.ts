/**
 * The Edit form: an input image (dropped, pasted, picked, or sent from the gallery), what the
 * result should look like, strength and an optional mask. The file input stays the one
 * source of the image, so whichever way it came, the form shows and sends the same file.
 */
import type { EditInput } from '../../client/types.js';
import { byId } from './dom.js';
import { bindSeedDice, FormError, numberOf, setValue } from './formFields.js';
import { announce } from './notices.js';
import { sizeField } from './sizes.js';
import type { OutputFormat, TaskRequest } from './taskTypes.js';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

export class EditForm {
  private readonly file = byId<HTMLInputElement>('edit-image');
  private readonly preview = byId<HTMLImageElement>('edit-preview');
  private readonly clearButton = byId<HTMLButtonElement>('edit-clear');
  private readonly dropZone = byId('drop-zone');
  private readonly prompt = byId<HTMLTextAreaElement>('edit-prompt');
  private readonly strength = byId<HTMLInputElement>('edit-strength');
  private readonly strengthValue = byId<HTMLOutputElement>('edit-strength-value');
  private readonly n = byId<HTMLSelectElement>('edit-n');
  private readonly seed = byId<HTMLInputElement>('edit-seed');
  private readonly format = byId<HTMLSelectElement>('edit-format');
  private readonly mask = byId<HTMLInputElement>('edit-mask');
  private readonly size = sizeField(byId('edit-size'), byId('edit-custom-size'), byId('edit-width'), byId('edit-height'), { sameAsInput: true });
  private readonly error: FormError;
  /** The image when the file input cannot hold it (a browser without a settable FileList). */
  private image: Blob | undefined;
  private previewUrl: string | undefined;
  /**
   * Until the person moves the slider, strength is left out and the server picks it: 0.6, or
   * 1 (repaint the masked area) when a mask is sent. The slider shows which.
   */
  private strengthChosen = false;

  constructor(private readonly form: HTMLFormElement, submit: (input: EditInput) => Promise<void>) {
    this.error = new FormError(form, byId('edit-error'), (param) => {
      if (param === 'size' && !byId('edit-custom-size').hidden) return 'width';
      return param.startsWith('image') ? 'image' : param;
    });
    bindSeedDice(form);
    this.strength.addEventListener('input', () => {
      this.strengthChosen = true;
      this.showStrength();
    });
    this.mask.addEventListener('change', () => {
      if (!this.strengthChosen) this.strength.value = this.mask.files?.length ? '1' : '0.6';
      this.showStrength();
    });
    this.showStrength();
    this.file.addEventListener('change', () => this.showImage(this.file.files?.[0]));
    this.clearButton.addEventListener('click', () => {
      this.setImage(undefined);
      this.file.focus();
    });
    this.bindDrop();
    const button = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      this.error.clear();
      const input = this.input();
      if (!input) {
        this.error.show(new Error('Add the image to edit first: drop it on the form, paste it, or choose a file.'));
        this.file.focus();
        return;
      }
      button.disabled = true;
      try {
        await submit(input);
      } catch (err) {
        this.error.show(err);
      } finally {
        button.disabled = false;
      }
    });
  }

  /** Makes `blob` the image to edit (undefined: none). */
  setImage(blob: Blob | undefined, name = 'image.png'): void {
    const file = blob && !(blob instanceof File) ? new File([blob], name, { type: blob.type || 'image/png' }) : blob;
    try {
      const list = new DataTransfer();
      if (file) list.items.add(file as File);
      this.file.files = list.files;
    } catch {
      /* an older browser: kept in this.image only */
    }
    this.showImage(file);
  }

  get hasImage(): boolean {
    return this.image !== undefined;
  }

  /** Fills the settings from a task's request; the image stays as it is. */
  fill(request: TaskRequest): void {
    this.error.clear();
    setValue(this.prompt, request.prompt);
    if (request.strength !== undefined) {
      this.strength.value = String(request.strength);
      this.strengthChosen = true;
    }
    this.showStrength();
    this.size.set(request.size);
    setValue(this.n, request.n ?? 1);
    setValue(this.seed, request.seed);
    setValue(this.format, request.output_format ?? 'png');
  }

  focus(): void {
    (this.image ? this.prompt : this.file).focus();
  }

  get element(): HTMLFormElement {
    return this.form;
  }

  private input(): EditInput | undefined {
    if (!this.image) return undefined;
    const input: EditInput = {
      image: this.image,
      prompt: this.prompt.value,
      size: this.size.value(),
      n: numberOf(this.n),
      output_format: this.format.value as OutputFormat,
    };
    const seed = numberOf(this.seed);
    if (seed !== undefined) input.seed = seed;
    if (this.strengthChosen) input.strength = Number(this.strength.value);
    const mask = this.mask.files?.[0];
    if (mask) input.mask = mask;
    return input;
  }

  private showImage(blob: Blob | undefined): void {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = undefined;
    this.image = blob;
    if (blob) {
      this.previewUrl = URL.createObjectURL(blob);
      this.preview.src = this.previewUrl;
    } else {
      this.preview.removeAttribute('src');
    }
    this.preview.hidden = !blob;
    this.clearButton.hidden = !blob;
  }

  private showStrength(): void {
    this.strengthValue.value = Number(this.strength.value).toFixed(2);
  }

  /** Files dropped on the zone; the first image among them is taken. */
  private bindDrop(): void {
    const zone = this.dropZone;
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('dragging');
      const file = imageIn(e.dataTransfer);
      if (file) {
        this.setImage(file, file.name);
        announce(`Image ready to edit: ${file.name}`);
        this.prompt.focus();
      } else {
        this.error.show(new Error('That is not a PNG, JPEG or WebP image.'));
      }
    });
  }
}

/** The first PNG, JPEG or WebP file a drop or paste carries. */
export function imageIn(data: DataTransfer | null): File | undefined {
  for (const file of data?.files ?? []) if (IMAGE_TYPES.includes(file.type)) return file;
  return undefined;
}
