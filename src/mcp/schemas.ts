/** The tools' argument schemas: types for zod, limits from the server's TypeBox schemas. */
import type { TSchema } from '@sinclair/typebox';
import * as z from 'zod';
import { EditRequest, GenerateRequest, SIZE_MAX, SIZE_MIN } from '../tasks/params.js';

const LIMIT_KEYS = ['minimum', 'maximum', 'minLength', 'maxLength', 'pattern'] as const;
const limitsOf = (schema: TSchema): Record<string, unknown> =>
  Object.fromEntries(LIMIT_KEYS.filter((k) => schema[k] !== undefined).map((k) => [k, schema[k]]));
const G = GenerateRequest.properties;
const E = EditRequest.properties;
const range = (schema: TSchema) => `${schema.minimum} to ${schema.maximum}`;
const literalsOf = (schema: TSchema) => (schema.anyOf as TSchema[]).map((s) => s.const as string);

const str = (schema: TSchema, description: string) => z.string().meta({ ...limitsOf(schema), description });
const int = (schema: TSchema, description: string) => z.number().int().meta({ ...limitsOf(schema), description });
const num = (schema: TSchema, description: string) => z.number().meta({ ...limitsOf(schema), description });
const formats = literalsOf(G.output_format) as [string, ...string[]];

const prompt = (what: string) => str(G.prompt, `${what} At most ${G.prompt.maxLength} characters.`);
const imageParams = {
  negative_prompt: str(G.negative_prompt, 'Optional: what the image must not show. Ignored by Turbo models (the default).').optional(),
  n: int(G.n, `How many images to make, ${range(G.n)} (default 1). Image i uses seed + i.`).optional(),
  seed: int(G.seed, `Optional seed, ${range(G.seed)}: the same prompt, size, steps and seed give the same image. Omit for a random one (the result says which was used).`).optional(),
  num_inference_steps: int(G.num_inference_steps, `Optional denoising steps, ${range(G.num_inference_steps)}. Omit for the model's default (8 for Turbo); more is slower, rarely better.`).optional(),
  output_format: z.enum(formats).meta({ description: `Image file format: ${formats.join(', ')} (default png).` }).optional(),
};
const SIZE_DOC = `Each side a multiple of 16 from ${SIZE_MIN} to ${SIZE_MAX}: e.g. "1024x1024" (square), "1344x768" (landscape), "768x1344" (portrait).`;

export const generateArgs = {
  prompt: prompt('What the image shows, in detail: subject, setting, style, lighting, composition; put any text to render in quotes. English or Chinese.'),
  size: str(G.size, `"WIDTHxHEIGHT" (default ${G.size.default}). ${SIZE_DOC}`).optional(),
  ...imageParams,
};

/** The forms an image argument takes; local paths only where the server runs on the caller's machine (stdio). */
const imageForms = (localFiles: boolean) => 'The URL of an image this server produced (a result URL from generate_image, edit_image or get_task; '
  + `other URLs are never fetched), ${localFiles ? 'an absolute local file path, ' : ''}or the file's bytes as base64 or a data:image/...;base64, URL. PNG, JPEG or WebP.`;
export const editArgs = (localFiles: boolean) => ({
  image: z.string().meta({ description: `The picture to start from. ${imageForms(localFiles)}` }),
  prompt: prompt('The WHOLE picture you want as the result, described as if from scratch (e.g. "a red vintage car on a beach at sunset"), '
    + 'not an instruction such as "make the car red": this is image-to-image, there is no instruction-following edit model.'),
  strength: num(E.strength, `How far the result may move from the input, ${range(E.strength)}: about 0.3 keeps the composition and most detail, `
    + '0.6 (the default) restyles, 0.9 and above keeps little more than the layout. With a mask the default is 1 (the masked area is painted anew).').optional(),
  mask: z.string().meta({
    description: 'Optional: the area to change, as white pixels of a black-and-white image or as transparent pixels (OpenAI\'s convention); '
      + 'everything else stays. The same forms as "image"; it is scaled to the image. Without a mask the whole image may change.',
  }).optional(),
  size: str(E.size, `Optional "WIDTHxHEIGHT" of the result. Default: the input's aspect ratio at about one megapixel. ${SIZE_DOC}`).optional(),
  ...imageParams,
});

export const TASK_ID = z.string().min(1).meta({ description: 'The task id (32 hex characters) that generate_image, edit_image or list_tasks gave.' });
