/**
 * The request parameters of image tasks: defined once as TypeBox schemas, which give
 * the TypeScript types, the validation (Ajv, also coercing multipart strings) and the
 * OpenAPI document.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { invalid } from '../errors.js';
import { randomSeed } from '../ids.js';
import type { OutputFormat, ResponseFormat, TaskKind, TaskParams } from '../interfaces.js';

export const MAX_PROMPT_CHARS = 4000;
export const SIZE_MIN = 256;
export const SIZE_MAX = 2048;
export const DEFAULT_SIZE = '1024x1024';

const common = {
  prompt: Type.String({ minLength: 1, maxLength: MAX_PROMPT_CHARS, description: 'What to draw (or, for edits, how to change the image).' }),
  negative_prompt: Type.Optional(Type.String({ maxLength: MAX_PROMPT_CHARS, description: 'What to avoid (ignored by Turbo models).' })),
  n: Type.Optional(Type.Integer({ minimum: 1, maximum: 4, default: 1, description: 'Number of images, 1 to 4.' })),
  size: Type.Optional(Type.String({
    pattern: '^\\d{2,5}x\\d{2,5}$', default: DEFAULT_SIZE,
    description: `"WIDTHxHEIGHT", each a multiple of 16 from ${SIZE_MIN} to ${SIZE_MAX}.`,
  })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Seed of the first image; image i uses seed+i. Random if omitted.' })),
  num_inference_steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Denoising steps (model default if omitted).' })),
  guidance_scale: Type.Optional(Type.Number({ minimum: 0, maximum: 20, description: 'Classifier-free guidance (model default if omitted).' })),
  response_format: Type.Optional(Type.Union([Type.Literal('url'), Type.Literal('b64_json')], { default: 'url' })),
  output_format: Type.Optional(Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')], {
    default: 'png', description: 'Image file format: png, jpeg ("jpg" is taken as jpeg) or webp.',
  })),
  output_compression: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'Quality for jpeg and webp, 0-100.' })),
};

export const GenerateRequest = Type.Object(common, { additionalProperties: true });
export const EditRequest = Type.Object(
  { ...common, strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'How far the result may move from the input image (default 0.6).' })) },
  { additionalProperties: true },
);
export type GenerateRequest = Static<typeof GenerateRequest>;
export type EditRequest = Static<typeof EditRequest>;

// Coercion lets multipart form fields ("2", "0.5") validate against the same schema as JSON.
// It would also turn a JSON number or true into a prompt ("5", "true"): checkTypes refuses those first.
const ajv = new Ajv({ coerceTypes: true, useDefaults: false, allErrors: false, strict: false });
const validators = { generate: ajv.compile(GenerateRequest), edit: ajv.compile(EditRequest) };

function fieldOf(err: ErrorObject): string | null {
  if (err.keyword === 'required') return (err.params as { missingProperty: string }).missingProperty;
  const name = err.instancePath.split('/').filter(Boolean)[0];
  return name ?? null;
}

const schemaOf = (field: string) => (validators.edit.schema as TSchema).properties[field] as TSchema | undefined;

/** "a number", "a list", ...: what a wrongly typed value is, in words. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'boolean') return `${value}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/**
 * Refuses what coercion would otherwise accept: a text field given as a number, true or a list
 * (JSON) is a mistake, not text; a number given as true or a list is one too. A number given
 * as a string ("2", as every multipart field is) is still fine.
 */
function checkTypes(input: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(input)) {
    const schema = schemaOf(field);
    if (!schema || value === undefined) continue;
    const text = schema.type === 'string' || (schema.anyOf as TSchema[] | undefined)?.every((s) => typeof s.const === 'string');
    const numeric = schema.type === 'integer' || schema.type === 'number';
    if (text && typeof value !== 'string') {
      throw invalid(field === 'prompt' ? 'invalid_prompt' : `invalid_${field}`, field === 'prompt'
        ? `"prompt" must be a string describing the image, not ${kindOf(value)}.`
        : `"${field}" must be a string, not ${kindOf(value)}.${schema.description ? ` ${schema.description}` : ''}`, field);
    }
    if (numeric && typeof value !== 'number' && typeof value !== 'string') {
      throw invalid(`invalid_${field}`,
        `"${field}" must be a number, not ${kindOf(value)}.${schema.description ? ` ${schema.description}` : ''}`, field);
    }
  }
}

const sizeError = (size: unknown) => invalid('invalid_size',
  `"size" must be "WIDTHxHEIGHT" with each side a multiple of 16 between ${SIZE_MIN} and ${SIZE_MAX} (e.g. "1024x1024"); got "${String(size)}".`, 'size');

function messageFor(err: ErrorObject, field: string | null): string {
  const schema = field ? schemaOf(field) : undefined;
  if (err.keyword === 'required') {
    return field === 'prompt' ? 'A "prompt" is required: describe the image you want.' : `"${field}" is required.`;
  }
  if (field === 'prompt') {
    return err.keyword === 'maxLength'
      ? `"prompt" is too long: at most ${MAX_PROMPT_CHARS} characters.`
      : '"prompt" must be a non-empty string describing the image.';
  }
  const hint = schema?.description ? ` ${schema.description}` : '';
  if (err.keyword === 'anyOf' || err.keyword === 'const') {
    const options = (schema?.anyOf as TSchema[] | undefined)?.map((s) => `"${s.const}"`).join(', ');
    return `"${field}" must be one of ${options}.`;
  }
  if (err.keyword === 'type') {
    const wanted = (err.params as { type?: string }).type;
    return `"${field}" must be ${wanted === 'integer' ? 'a whole number' : wanted === 'number' ? 'a number' : `a ${wanted}`}.${hint}`;
  }
  // Ajv words a pattern as the regular expression; the description says it for people.
  if (err.keyword === 'pattern') return `"${field}" is not in the expected form.${hint}`;
  return `"${field}" ${err.message ?? 'is invalid'}.${hint}`;
}

export function parseSize(size: string): { width: number; height: number } {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  const bad = () => sizeError(size);
  if (!m) throw bad();
  const width = Number(m[1]);
  const height = Number(m[2]);
  for (const v of [width, height]) if (v % 16 !== 0 || v < SIZE_MIN || v > SIZE_MAX) throw bad();
  return { width, height };
}

/**
 * Validates a raw request body (JSON object or multipart fields) and resolves it into
 * the stored TaskParams: size parsed, seed chosen, defaults filled. Throws ApiError 400.
 */
export function toTaskParams(kind: TaskKind, body: unknown): TaskParams {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('invalid_json', 'The request body must be a JSON object, e.g. {"prompt": "a cat"}.');
  }
  const input = { ...(body as Record<string, unknown>) };
  // Agents often send `null` for fields they do not use: treat it as absent.
  for (const [k, v] of Object.entries(input)) if (v === null) delete input[k];
  if (typeof input.prompt === 'string') input.prompt = input.prompt.trim();
  // OpenAI clients send size "auto": the default (edits resolve it from the input before this).
  if (input.size === 'auto') delete input.size;
  // "jpg" is what people type (and the file extension); the API calls it jpeg.
  if (typeof input.output_format === 'string') {
    const format = input.output_format.trim().toLowerCase();
    input.output_format = format === 'jpg' ? 'jpeg' : format;
  }
  checkTypes(input);
  const validate = validators[kind];
  if (!validate(input)) {
    const err = validate.errors![0];
    const field = fieldOf(err);
    if (field === 'size') throw sizeError(input.size);
    throw invalid(field === 'prompt' ? 'invalid_prompt' : `invalid_${field ?? 'request'}`, messageFor(err, field), field);
  }
  const req = input as EditRequest;
  const { width, height } = parseSize(req.size ?? DEFAULT_SIZE);
  const params: TaskParams = {
    prompt: req.prompt,
    n: req.n ?? 1,
    width,
    height,
    seed: req.seed ?? randomSeed(),
    output_format: (req.output_format ?? 'png') as OutputFormat,
    response_format: (req.response_format ?? 'url') as ResponseFormat,
  };
  if (req.negative_prompt) params.negative_prompt = req.negative_prompt;
  if (req.num_inference_steps !== undefined) params.num_inference_steps = req.num_inference_steps;
  if (req.guidance_scale !== undefined) params.guidance_scale = req.guidance_scale;
  if (req.output_compression !== undefined) params.output_compression = req.output_compression;
  if (kind === 'edit') params.strength = req.strength ?? 0.6;
  return params;
}
