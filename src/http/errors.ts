import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiError, IdempotencyConflictError, InvalidCursorError, OwnerQueueFullError, QueueFullError, StorageFullError, TaskFinishedError,
  TaskNotFinishedError,
} from '../errors.js';

/** The one error body: {"error": {"message", "type", "code", "param"}}. */
export function errorBody(err: ApiError) {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}

export function sendError(reply: FastifyReply, err: ApiError, extra: Record<string, unknown> = {}) {
  if (err.retryAfter !== undefined) reply.header('Retry-After', String(err.retryAfter));
  return reply.code(err.statusCode).send({ ...extra, ...errorBody(err) });
}

/** What the error mappings may say about the limits in force (the route's body limit, the upload limit). */
export interface ErrorContext {
  bodyLimit?: number;
  uploadLimit?: number;
}

/** A size limit in words: "1 MiB" (MiB, as ZIMAGE_MAX_UPLOAD_MB counts). */
const mb = (n: unknown) => (typeof n === 'number' ? `${Math.round((n / 1048576) * 100) / 100} MiB` : 'the limit');

/** Fastify's and @fastify/multipart's own errors, in our shape with a message that says what to do. */
function fromFastifyError(err: FastifyError, ctx: ErrorContext = {}): ApiError {
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
      return new ApiError(413, 'request_too_large', ctx.bodyLimit
        ? `The request body is larger than the ${mb(ctx.bodyLimit)} (${ctx.bodyLimit} bytes) this endpoint accepts. Send a smaller body.`
        : 'The request body is larger than this endpoint accepts. Send a smaller body.');
    case 'FST_REQ_FILE_TOO_LARGE': {
      const limit = (err as { limit?: number }).limit ?? ctx.uploadLimit;
      return new ApiError(413, 'file_too_large',
        `An uploaded file is larger than ${mb(limit)}${limit ? ' (ZIMAGE_MAX_UPLOAD_MB)' : ''}. Upload a smaller image.`, 'image');
    }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_content_length',
        'The body is not as long as its Content-Length header says. Send the header that matches the body (or let your HTTP client set it).');
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, 'invalid_url',
        'The URL is not valid: a "%" must start an escape of two hex digits (like %20), and escapes must spell UTF-8. ' +
        'Percent-encode each path segment (encodeURIComponent).');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(414, 'url_too_long', 'A segment of the URL path is too long. Task ids are 32 characters; check the URL.');
    case 'FST_ERR_HANDLER_TIMEOUT':
      return new ApiError(503, 'timeout', 'The server took too long to answer this request. Try again.', null, 'unavailable_error', 1);
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
  // Any other 4xx of Fastify or a plugin (FST_ERR_*): its status, in our shape, its own words.
  if (status >= 400 && status < 500) return new ApiError(status, 'invalid_request', err.message);
  return new ApiError(500, 'internal_error', 'The server hit an unexpected error. It has been logged; try again.');
}

/** The domain errors of the layers below, as HTTP answers: the one place they are mapped. */
function fromDomainError(err: unknown): ApiError | undefined {
  if (err instanceof QueueFullError) {
    return new ApiError(503, 'queue_full', `The queue is full (${err.queued} tasks waiting). Wait and submit again; Retry-After says when.`,
      null, 'unavailable_error', err.retryAfterSeconds ?? 5);
  }
  if (err instanceof StorageFullError) {
    return new ApiError(507, 'storage_full',
      'The server\'s storage is full, so it cannot take new tasks now. Tasks already accepted are kept and run once space returns. ' +
      'Submit again later; Retry-After says when.', null, 'unavailable_error', err.retryAfterSeconds);
  }
  if (err instanceof OwnerQueueFullError) {
    return new ApiError(429, 'too_many_queued',
      `Your API key has ${err.queued} tasks waiting, as many as one key may (ZIMAGE_MAX_QUEUED_PER_KEY=${err.limit}). ` +
      'Wait for some to finish and submit again; Retry-After says when. Tasks already accepted keep their place.',
      null, 'rate_limit_error', err.retryAfterSeconds ?? 5);
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

export function toApiError(err: unknown, ctx: ErrorContext = {}): ApiError {
  if (err instanceof ApiError) return err;
  const domain = fromDomainError(err);
  if (domain) return domain;
  const e = err as FastifyError;
  // Multipart parsing errors arrive as errors of the stream (e.g. "Unexpected end of form").
  if (!e.code && /multipart|Unexpected end of form|boundary/i.test(e.message ?? '')) {
    return new ApiError(400, 'invalid_multipart', `The multipart form could not be read (${e.message}). Send a complete multipart/form-data body.`);
  }
  return fromFastifyError(e, ctx);
}

/**
 * The client went away (reset, closed mid-body) before it was answered: nobody reads the
 * answer, and it is no server error. Such requests are logged at debug, never as a 500.
 */
export function clientWentAway(err: unknown, request: FastifyRequest): boolean {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.code === 'EPIPE' || e?.message === 'aborted') return true;
  return request.raw.readableAborted;
}

export function installErrorHandlers(app: FastifyInstance, limits: { uploadLimit?: number } = {}): void {
  app.setErrorHandler((err, request, reply) => {
    const apiErr = toApiError(err, { bodyLimit: request.routeOptions.bodyLimit, uploadLimit: limits.uploadLimit });
    if (clientWentAway(err, request)) request.log.debug({ code: (err as { code?: string }).code }, 'client went away before the answer');
    else if (apiErr.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: apiErr.code, status: apiErr.statusCode }, apiErr.message);
    return sendError(reply, apiErr);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError(404, 'not_found', `No route for ${request.method} ${request.url.split('?')[0]}. See GET /openapi.json for the API.`)),
  );
}
