/**
 * Size presets (each side a multiple of 16, about one megapixel: what Z-Image is trained
 * for) and the Size select with its custom width/height fields.
 */
import { h } from './dom.js';

const PRESETS: Array<{ group: string; sizes: Array<[string, string]> }> = [
  { group: 'Square', sizes: [['1024x1024', '1:1'], ['768x768', '1:1, faster'], ['512x512', '1:1, fastest']] },
  { group: 'Portrait', sizes: [['768x1344', '9:16'], ['832x1216', '2:3'], ['896x1152', '4:5']] },
  { group: 'Landscape', sizes: [['1344x768', '16:9'], ['1216x832', '3:2'], ['1152x896', '5:4']] },
];
export const DEFAULT_SIZE = '1024x1024';
const CUSTOM = 'custom';
/** The edit form's first choice: leave size out, and the server keeps the input's shape at about one megapixel. */
const SAME = '';

const isPreset = (size: string) => PRESETS.some((p) => p.sizes.some(([value]) => value === size));

export interface SizeField {
  /** "WIDTHxHEIGHT", or undefined for "same as the input image". */
  value(): string | undefined;
  set(size: string | undefined): void;
}

/** Fills the select with the presets and shows the custom fields when "Custom size" is chosen. */
export function sizeField(
  select: HTMLSelectElement, custom: HTMLFieldSetElement, width: HTMLInputElement, height: HTMLInputElement,
  opts: { sameAsInput?: boolean } = {},
): SizeField {
  if (opts.sameAsInput) select.append(h('option', { value: SAME }, 'Shape of the image (about 1 MP)'));
  for (const { group, sizes } of PRESETS) {
    select.append(h('optgroup', { label: group }, ...sizes.map(([value, ratio]) =>
      h('option', { value }, `${value.replace('x', ' × ')} (${ratio})`))));
  }
  select.append(h('option', { value: CUSTOM }, 'Custom size…'));
  select.value = opts.sameAsInput ? SAME : DEFAULT_SIZE;
  const sync = () => { custom.hidden = select.value !== CUSTOM; };
  select.addEventListener('change', sync);
  sync();
  return {
    value() {
      if (select.value === CUSTOM) return `${width.value.trim()}x${height.value.trim()}`;
      return select.value === SAME ? undefined : select.value;
    },
    set(size) {
      if (size === undefined) {
        select.value = opts.sameAsInput ? SAME : DEFAULT_SIZE;
      } else if (isPreset(size)) {
        select.value = size;
      } else {
        const [w, hgt] = size.split('x');
        width.value = w ?? '';
        height.value = hgt ?? '';
        select.value = CUSTOM;
      }
      sync();
    },
  };
}
