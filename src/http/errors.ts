import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, IdempotencyConflictError, InvalidCursorError, QueueFullError, TaskFinishedError, TaskNotFinishedError } from '../errors.js';

/** The one error body: {"error": {"message", "type", "code", "param"}}. */
export function errorBody(err: ApiError) {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}

export function sendError(reply: FastifyReply, err: ApiError, extra: Record<string, unknown> = {}) {
  if (err.retryAfter !== undefined) reply.header('Retry-After', String(err.retryAfter));
  return reply.code(err.statusCode).send({ ...extra, ...errorBody(err) });
}

/** Fastify's and @fastify/multipart's own errors, in our shape with a message that says what to do. */
function fromFastifyError(err: FastifyError): ApiError {
  const mb = (n: unknown) => (typeof n === 'number' ? `${Math.round((n / 1048576) * 100) / 100} MiB` : 'the limit');
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ApiError(415, 'unsupported_media_type',
        'Unsupported Content-Type. Send JSON with "Content-Type: application/json", or multipart/form-data to upload an image for an edit.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'The request body is empty. Send a JSON object, e.g. {"prompt": "a cat"}.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'The request body is not valid JSON. Send a JSON object, e.g. {"prompt": "a cat"}.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'request_too_large', 'The request body is too large.');
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError(413, 'file_too_large', `An uploaded file is larger than ${mb((err as { limit?: number }).limit)}. Upload a smaller image.`, 'image');
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new ApiError(413, 'too_many_parts', 'The form has too many parts. Send one `image` file (and optionally one `mask`) plus the text fields.');
    case 'FST_PROTO_VIOLATION':
      return new ApiError(400, 'invalid_request', 'The request was rejected as unsafe JSON (a __proto__ or constructor key).');
    default:
      break;
  }
  if (err.validation) {
    const param = err.validation[0]?.instancePath?.split('/').filter(Boolean)[0] ?? null;
    return new ApiError(400, 'invalid_request', `Invalid request: ${err.message}`, param);
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return new ApiError(status, 'invalid_request', err.message);
  return new ApiError(500, 'internal_error', 'The server hit an unexpected error. It has been logged; try again.');
}

/** The domain errors of the layers below, as HTTP answers: the one place they are mapped. */
function fromDomainError(err: unknown): ApiError | undefined {
  if (err instanceof QueueFullError) {
    return new ApiError(503, 'queue_full', `The queue is full (${err.queued} tasks waiting). Wait and submit again; Retry-After says when.`,
      null, 'unavailable_error', err.retryAfterSeconds ?? 5);
  }
  if (err instanceof IdempotencyConflictError) {
    return new ApiError(409, 'idempotency_key_reused',
      `This Idempotency-Key was already used for a different request (task ${err.taskId}). Use a new key for a new request.`, 'Idempotency-Key');
  }
  if (err instanceof TaskFinishedError) {
    return new ApiError(409, 'task_finished', `Task ${err.taskId} has already finished (status "${err.state}") and cannot be canceled.`, 'task_id');
  }
  if (err instanceof TaskNotFinishedError) {
    return new ApiError(409, 'task_not_finished',
      `Task ${err.taskId} is still "${err.state}" and cannot be deleted yet. Cancel it first, or wait until it finishes.`, 'task_id');
  }
  if (err instanceof InvalidCursorError) {
    return new ApiError(400, 'invalid_cursor',
      'The cursor is not one this server made. Pass the "next_cursor" of the previous page unchanged, or leave it out for the first page.', 'cursor');
  }
  return undefined;
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const domain = fromDomainError(err);
  if (domain) return domain;
  const e = err as FastifyError;
  // Multipart parsing errors arrive as errors of the stream (e.g. "Unexpected end of form").
  if (!e.code && /multipart|Unexpected end of form|boundary/i.test(e.message ?? '')) {
    return new ApiError(400, 'invalid_multipart', `The multipart form could not be read (${e.message}). Send a complete multipart/form-data body.`);
  }
  return fromFastifyError(e);
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const apiErr = toApiError(err);
    if (apiErr.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: apiErr.code, status: apiErr.statusCode }, apiErr.message);
    return sendError(reply, apiErr);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `No route for ${request.method} ${request.url.split('?')[0]}. See GET /openapi.json for the API.`)),
  );
}
