/** The OpenAI routes' request bodies and responses, for validation and the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import { EditRequest, GenerateRequest } from '../../tasks/params.js';
import { ref, submitBody, submitErrors } from '../schemas.js';
import { MAX_PARTIAL_IMAGES, QUALITY_SHARE } from './request.js';

const OPENAI_ONLY = {
  model: Type.Optional(Type.String({ description: 'Accepted and ignored: this server serves one model (see GET /v1/models).' })),
  size: Type.Optional(Type.String({ description: '"WIDTHxHEIGHT", each a multiple of 16 from 256 to 2048 (e.g. "1536x1024"), or "auto".' })),
  quality: Type.Optional(Type.String({
    enum: Object.keys(QUALITY_SHARE),
    description: 'Denoising steps as a share of the model\'s default: low 1/2 (Turbo: 4), medium 3/4 (Turbo: 6), high and auto all (Turbo: 8); standard = auto, hd = high. num_inference_steps wins.',
  })),
  background: Type.Optional(Type.String({ enum: ['auto', 'opaque', 'transparent'], description: 'auto or opaque; transparent is refused (400): the model makes opaque images only.' })),
  stream: Type.Optional(Type.Boolean({ description: 'Answer with Server-Sent Events in OpenAI\'s format (partial images, then the completed image).' })),
  partial_images: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PARTIAL_IMAGES, description: 'With stream: how many partial images (live previews, at most 256 px) to send before the final one, 0-3.' })),
  user: Type.Optional(Type.String({ description: 'Accepted and ignored.' })),
};
const openaiResponseFormat = Type.Optional(Type.Union([Type.Literal('url'), Type.Literal('b64_json')], {
  default: 'b64_json', description: 'b64_json (the default here, as for current OpenAI image models) or url.',
}));
export const GenerationsBody = submitBody(Type.Object({ ...GenerateRequest.properties, ...OPENAI_ONLY, response_format: openaiResponseFormat }));
export const EditsBody = submitBody(Type.Object({ ...EditRequest.properties, ...OPENAI_ONLY, response_format: openaiResponseFormat }));

/** OpenAI's ImagesResponse as this server fills it (documentation only: replies are not reshaped by it). */
const ImagesResponse = Type.Object({
  created: Type.Integer({ description: 'Unix seconds when the images were finished.' }),
  data: Type.Array(Type.Object({
    url: Type.Optional(Type.String({ format: 'uri', description: 'Download the image here. Only with response_format url.' })),
    b64_json: Type.Optional(Type.String({ description: 'The base64-encoded image (the default).' })),
    seed: Type.Integer({ description: 'This image\'s seed: the same request with this seed and n=1 makes it again.' }),
  }, { additionalProperties: true })),
  output_format: Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')]),
  size: Type.String({ description: 'WIDTHxHEIGHT of the images.' }),
  quality: Type.String({ description: 'The quality asked for (low, medium, high or auto).' }),
  background: Type.Literal('opaque'),
  usage: Type.Object({}, { additionalProperties: true, description: 'OpenAI\'s token usage: all zero here (nothing is counted in tokens).' }),
}, {
  additionalProperties: true,
  description: 'The finished images (header x-task-id names the task). With stream: true, Server-Sent Events instead: ' +
    'image_generation.partial_image / image_edit.partial_image (b64_json, partial_image_index), then image_generation.completed / ' +
    'image_edit.completed (b64_json, usage) per image, or one error event.',
});

export const responses = {
  200: ImagesResponse,
  ...submitErrors,
  409: ref.error('The task was canceled while the request waited (task_canceled).'),
  500: ref.error('The task failed: error.code and error.message are the task\'s.'),
  503: ref.error('Queue full (Retry-After), the GPU ran out of memory (out_of_memory), or the server is shutting down (shutting_down).'),
  504: ref.error('Not finished within ZIMAGE_SYNC_TIMEOUT_SECONDS (timeout): the task keeps running; poll GET /v1/images/tasks/{x-task-id}.'),
};
