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
  output_format: Type.Optional(Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')], { default: 'png' })),
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
const ajv = new Ajv({ coerceTypes: true, useDefaults: false, allErrors: false, strict: false });
const validators = { generate: ajv.compile(GenerateRequest), edit: ajv.compile(EditRequest) };

function fieldOf(err: ErrorObject): string | null {
  if (err.keyword === 'required') return (err.params as { missingProperty: string }).missingProperty;
  const name = err.instancePath.split('/').filter(Boolean)[0];
  return name ?? null;
}

function messageFor(err: ErrorObject, field: string | null): string {
  const schema = field ? ((validators.edit.schema as TSchema).properties[field] as TSchema | undefined) : undefined;
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
  return `"${field}" ${err.message ?? 'is invalid'}.${hint}`;
}

export function parseSize(size: string): { width: number; height: number } {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  const bad = () => invalid('invalid_size',
    `"size" must be "WIDTHxHEIGHT" with each side a multiple of 16 between ${SIZE_MIN} and ${SIZE_MAX} (e.g. "1024x1024"); got "${size}".`, 'size');
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
  const validate = validators[kind];
  if (!validate(input)) {
    const err = validate.errors![0];
    const field = fieldOf(err);
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
