/**
 * OpenAI's image request fields, translated: which are read and removed here, and what they
 * mean for the task's own fields.
 */
import { invalid } from '../../errors.js';
import type { TaskKind } from '../../interfaces.js';
import { modelDefaults } from '../../engines/diffusers/options.js';
import type { SubmitInput } from '../../tasks/service.js';
import type { AppDeps } from '../context.js';

/**
 * How OpenAI's request fields are read (anything else is validated as for the async routes):
 * - `response_format`: `b64_json` unless `"url"` is asked for, like current OpenAI image models
 *   (the async routes keep `url`, as the skill contract says).
 * - `quality`: a share of the model's default denoising steps: `low` half (Turbo: 4 of 8),
 *   `medium` three quarters (Turbo: 6), `high` and `auto` all of them (Turbo: 8); DALL·E's
 *   `standard` is `auto`, `hd` is `high`. An explicit `num_inference_steps` wins.
 * - `background`: `auto` and `opaque` are what the model makes; `transparent` is a 400 (it
 *   cannot make transparent images), never an opaque image answered as if it were.
 * - `stream`, `partial_images` (0-3, only with stream): see src/http/routes/openai.ts. Partial
 *   images are the task's live previews (every ZIMAGE_PREVIEW_EVERY steps, at most 256 px), in
 *   the requested output_format; as with OpenAI, fewer may arrive when the image is done first
 *   (none with ZIMAGE_PREVIEW_EVERY=0).
 * - `model`, `style`, `moderation`, `input_fidelity`, `user`: accepted and ignored (one model
 *   is served; the rest has no equivalent and changes nothing the engine could honour).
 * `size: "auto"` means our default: 1024x1024 for generations, the input's aspect ratio for edits.
 * One input image per edit: several (OpenAI's multi-image edits) are a 400.
 */
export const QUALITY_SHARE: Record<string, number> = { low: 0.5, medium: 0.75, high: 1, auto: 1, standard: 1, hd: 1 };
const QUALITY_NAME: Record<string, 'low' | 'medium' | 'high' | 'auto'> = {
  low: 'low', medium: 'medium', high: 'high', auto: 'auto', standard: 'auto', hd: 'high',
};
export const MAX_PARTIAL_IMAGES = 3;

/** What the OpenAI fields asked for, beside the task parameters. */
export interface OpenAIOptions {
  stream: boolean;
  partialImages: number;
  quality: 'low' | 'medium' | 'high' | 'auto';
}

/** A translated request: the task to queue, and how to answer. */
export interface Submission {
  kind: TaskKind;
  input: SubmitInput;
  options: OpenAIOptions;
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/** A JSON boolean, or a form field's "true"/"false". */
function parseBool(value: unknown, param: string): boolean {
  if (!present(value)) return false;
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw invalid(`invalid_${param}`, `"${param}" must be true or false.`, param);
}

/**
 * Reads and removes the OpenAI-only fields (quality, background, stream, partial_images), and
 * applies their meaning to the task fields: the b64_json default, quality as steps.
 * Throws a 400 for what the engine cannot do or what is not a valid value.
 */
export function fromOpenAI(raw: Record<string, unknown>, defaultSteps: number): { fields: Record<string, unknown>; options: OpenAIOptions } {
  const fields = { ...raw };
  if (fields.size === 'auto') delete fields.size;
  if (!present(fields.response_format)) fields.response_format = 'b64_json';

  const background = fields.background;
  delete fields.background;
  if (present(background)) {
    if (background === 'transparent') {
      throw invalid('unsupported_background',
        '"background": "transparent" is not supported: this model makes opaque images only. Send "opaque" or "auto" (or leave it out), ' +
        'and cut the subject out afterwards if you need transparency.', 'background');
    }
    if (background !== 'auto' && background !== 'opaque') {
      throw invalid('invalid_background', '"background" must be "auto" or "opaque" ("transparent" is not supported here).', 'background');
    }
  }

  const quality = fields.quality;
  delete fields.quality;
  let qualityName: OpenAIOptions['quality'] = 'auto';
  if (present(quality)) {
    const key = typeof quality === 'string' ? quality.toLowerCase() : '';
    if (!(key in QUALITY_SHARE)) {
      throw invalid('invalid_quality', `"quality" must be one of ${Object.keys(QUALITY_SHARE).map((q) => `"${q}"`).join(', ')}.`, 'quality');
    }
    qualityName = QUALITY_NAME[key];
    // An explicit step count wins over quality.
    if (QUALITY_SHARE[key] < 1 && !present(fields.num_inference_steps)) {
      fields.num_inference_steps = Math.max(1, Math.round(defaultSteps * QUALITY_SHARE[key]));
    }
  }

  const stream = parseBool(fields.stream, 'stream');
  delete fields.stream;
  const rawPartials = fields.partial_images;
  delete fields.partial_images;
  let partialImages = 0;
  if (present(rawPartials)) {
    const n = typeof rawPartials === 'number' ? rawPartials : typeof rawPartials === 'string' && /^\s*\d+\s*$/.test(rawPartials) ? Number(rawPartials) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > MAX_PARTIAL_IMAGES) {
      throw invalid('invalid_partial_images', `"partial_images" must be an integer from 0 to ${MAX_PARTIAL_IMAGES}.`, 'partial_images');
    }
    partialImages = n;
  }
  return { fields, options: { stream, partialImages, quality: qualityName } };
}

/** The steps a task of this kind runs by default here: this process's engine, else the live workers', else the model's. */
export async function defaultStepsFor(deps: AppDeps, kind: TaskKind): Promise<number> {
  if (deps.engine) return deps.engine.defaultSteps(kind);
  const counts = new Map<number, number>();
  for (const w of await deps.workers.live()) counts.set(w.defaultSteps[kind], (counts.get(w.defaultSteps[kind]) ?? 0) + 1);
  let best: number | undefined;
  for (const [steps, n] of counts) if (best === undefined || n > counts.get(best)!) best = steps;
  if (best !== undefined) return best;
  if (deps.config.engine === 'synthetic') return 8;
  return modelDefaults(deps.config.model, deps.config.modelVariant as 'auto' | 'turbo' | 'base').steps;
}
