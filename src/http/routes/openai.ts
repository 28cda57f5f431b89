/**
 * OpenAI-compatible image endpoints, so the official OpenAI SDKs (and tools built on them)
 * work unmodified with `baseURL = <server>/v1`:
 *   POST /v1/images/generations (JSON), POST /v1/images/edits (multipart), GET /v1/models,
 *   POST /v1/images/variations (a clear 400: see below).
 * Each request queues a task exactly like the async endpoints and holds the connection
 * until it is final; every answer after the submit carries the task's id in `x-task-id`.
 * With `stream: true` the answer is Server-Sent Events in OpenAI's image-streaming format:
 * `partial_images` (0-3) `*.partial_image` events made from the task's live previews, then
 * one `*.completed` event per image, or an `error` event.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';
import { toTaskParams } from '../../tasks/params.js';
import type { SubmitInput } from '../../tasks/service.js';
import { jsonEditBodyLimit, maxUploadBytes, type AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { editSubmission, submitMeta } from '../imageSubmit.js';
import { readImageForm } from '../multipart.js';
import { ref, SubmitHeaders } from '../schemas.js';
import { submitAndWait } from '../openai/answer.js';
import { defaultStepsFor, fromOpenAI, type Submission } from '../openai/request.js';
import { EditsBody, GenerationsBody, responses } from '../openai/schemas.js';
import { submitAndStream } from '../openai/stream.js';
import { modelRoutes } from './models.js';

export { MAX_PARTIAL_IMAGES } from '../openai/request.js';
export { partialPicker } from '../openai/stream.js';

const answer = (request: FastifyRequest, reply: FastifyReply, deps: AppDeps, submission: Submission) =>
  (submission.options.stream ? submitAndStream : submitAndWait)(request, reply, deps, submission);

export async function openaiRoutes(app: FastifyInstance, deps: AppDeps) {

  app.post('/v1/images/generations', {
    schema: {
      summary: 'Generate images and wait for them, or stream them (OpenAI-compatible)', tags: ['openai'],
      body: GenerationsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return toTaskParams('generate', body); // throws the usual 400
    const { fields, options } = fromOpenAI(body as Record<string, unknown>, await defaultStepsFor(deps, 'generate'));
    const params = toTaskParams('generate', fields);
    const input: SubmitInput = { kind: 'generate', params, ...submitMeta(request, body, deps.config) };
    return answer(request, reply, deps, { kind: 'generate', input, options });
  });

  app.post('/v1/images/edits', {
    bodyLimit: jsonEditBodyLimit(deps.config),
    schema: {
      summary: 'Edit an image and wait for the result, or stream it (OpenAI-compatible; multipart: image or image[], prompt, optional mask)',
      tags: ['openai'], consumes: ['multipart/form-data'], body: EditsBody, headers: SubmitHeaders, response: responses,
    },
  }, async (request, reply) => {
    const form = await readImageForm(request, maxUploadBytes(deps.config));
    const { fields, options } = fromOpenAI(form.fields, await defaultStepsFor(deps, 'edit'));
    const edit = await editSubmission({ ...form, fields }, deps.config.maxInputPixels);
    const input: SubmitInput = { ...edit, ...submitMeta(request, form.fields, deps.config) };
    return answer(request, reply, deps, { kind: 'edit', input, options });
  });

  /**
   * OpenAI's variations (a DALL·E 2 endpoint) have no faithful equivalent: a variation without a
   * prompt would be an unguided re-noising of the picture. A clear 400 says what to do instead.
   */
  app.post('/v1/images/variations', {
    schema: {
      summary: 'Not supported: make variations with POST /v1/images/edits and a prompt (answers 400 unsupported_endpoint)', tags: ['openai'],
      consumes: ['multipart/form-data'],
      response: { 400: ref.error('Always: variations are made as edits here.') },
    },
  }, async (request, reply) => {
    // Read the upload to its end, so the client gets the answer rather than a reset connection.
    if (request.isMultipart()) {
      try {
        for await (const part of request.parts()) if (part.type === 'file') await part.toBuffer();
      } catch {
        // a broken or oversized form changes nothing: the answer is the same
      }
    }
    return sendError(reply, new ApiError(400, 'unsupported_endpoint',
      'Image variations are not supported by this server. Make one as an edit: POST /v1/images/edits with the image and a prompt ' +
      'that describes it (a lower "strength", e.g. 0.4, stays closer to the original).', null));
  });

  await app.register(modelRoutes, deps);
}
