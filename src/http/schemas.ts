/**
 * Response schemas of the HTTP API, defined once as TypeBox. They are shared schemas
 * (`app.addSchema`, see openapi.ts) so the OpenAPI document names them as components,
 * and routes point at them with `ref.X` in their `schema.response`.
 *
 * They document; they do not serialize: openapi.ts sets a serializer compiler that
 * ignores response schemas, so replies stay exactly what the handlers return (no field
 * dropped, reordered or coerced), byte for byte as without a schema.
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { ApiErrorType } from '../errors.js';

const ERROR_TYPES = [
  'invalid_request_error', 'authentication_error', 'not_found_error', 'conflict_error',
  'rate_limit_error', 'server_error', 'unavailable_error',
] as const satisfies readonly ApiErrorType[];
// Fails to compile when ApiErrorType gains a member the document does not list.
const allErrorTypesListed: Exclude<ApiErrorType, (typeof ERROR_TYPES)[number]> extends never ? true : never = true;
void allErrorTypesListed;

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const ErrorDetail = Type.Object({
  message: Type.String({ description: 'What went wrong and what to do next.' }),
  type: literals(ERROR_TYPES),
  code: Type.String({ description: 'Stable machine-readable code, e.g. "invalid_size", "task_not_found", "queue_full".' }),
  param: Nullable(Type.String({ description: 'The request field at fault, if any.' })),
}, { additionalProperties: true });

export const ErrorResponse = Type.Object({ error: ErrorDetail }, {
  $id: 'Error', additionalProperties: true,
  description: 'Every error a client can cause. 503 and 429 answers carry a Retry-After header.',
});

export const SubmitResponse = Type.Object({
  task_id: Type.String({ description: 'Poll GET /v1/images/tasks/{task_id} with it.' }),
  status: Type.Union([Type.Literal('processing'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('canceled')], {
    description: '"processing" for a new task. A repeated Idempotency-Key answers the task it made, as it stands now (which may have finished).',
  }),
  message: Type.String({ description: 'How to poll, for agents reading the answer.' }),
  replayed: Type.Optional(Type.Boolean({ description: 'True when a repeated Idempotency-Key answered the task it had already made.' })),
}, { $id: 'SubmitResponse', additionalProperties: true, description: 'The task is queued durably.' });

export const TaskImage = Type.Object({
  url: Type.Optional(Type.String({ format: 'uri', description: 'Download the image here (GET answers the raw bytes). Absent with response_format b64_json.' })),
  b64_json: Type.Optional(Nullable(Type.String({ description: 'The base64-encoded image, with response_format b64_json.' }))),
  seed: Type.Integer(),
  width: Type.Integer(),
  height: Type.Integer(),
  output_format: literals(['png', 'jpeg', 'webp']),
  error: Type.Optional(Type.String()),
}, { $id: 'TaskImage', additionalProperties: true });

export const TaskFailure = Type.Object({
  code: Type.String({ description: 'Why, e.g. out_of_memory, engine_crashed, timeout, attempts_exhausted, expired.' }),
  message: Type.String(),
  retryable: Type.Boolean({ description: 'Whether submitting the same request again may succeed.' }),
}, { additionalProperties: true });

export const TaskResponse = Type.Object({
  task_id: Type.String(),
  status: literals(['processing', 'completed', 'failed', 'canceled']),
  kind: literals(['generate', 'edit']),
  created_at: Type.Integer({ description: 'Unix seconds.' }),
  request: Type.Optional(Type.Object({
    prompt: Type.String(),
    negative_prompt: Type.Optional(Type.String()),
    size: Type.String({ description: '"WIDTHxHEIGHT" as resolved (an edit\'s default follows its input).' }),
    n: Type.Integer(),
    seed: Type.Integer({ description: 'The seed of the first image, also when the request left it random.' }),
    num_inference_steps: Type.Optional(Type.Integer()),
    guidance_scale: Type.Optional(Type.Number()),
    strength: Type.Optional(Type.Number()),
    output_format: literals(['png', 'jpeg', 'webp']),
    output_compression: Type.Optional(Type.Integer()),
  }, { additionalProperties: true, description: 'What was asked for, resolved (sending it again repeats the task). Absent once retention has expired the task.' })),
  stage: Type.Optional(literals(['queued', 'running'])),
  queue_position: Type.Optional(Nullable(Type.Integer({ description: 'While queued: how many tasks are ahead of this one (0: it runs next). The message counts the same way.' }))),
  progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  step: Type.Optional(Type.Integer()),
  total_steps: Type.Optional(Nullable(Type.Integer())),
  eta_seconds: Type.Optional(Nullable(Type.Number())),
  attempts: Type.Optional(Type.Integer()),
  message: Type.Optional(Type.String()),
  cancel_requested: Type.Optional(Type.Boolean()),
  finished_at: Type.Optional(Nullable(Type.Integer())),
  created: Type.Optional(Nullable(Type.Integer())),
  data: Type.Optional(Type.Array(Type.Ref('TaskImage'), { description: 'The images, once completed.' })),
  engine: Type.Optional(Type.String()),
  synthetic: Type.Optional(Type.Boolean({ description: 'True when the images are test patterns, not model output.' })),
  notice: Type.Optional(Type.String()),
  error: Type.Optional(TaskFailure),
  webhook: Type.Optional(Type.Object({
    url: Type.String(),
    status: literals(['pending', 'delivered', 'failed']),
    attempts: Type.Array(Type.Object({}, { additionalProperties: true })),
    next_attempt_at: Nullable(Type.Integer()),
  }, { additionalProperties: true, description: 'Where the delivery to webhook_url stands (tasks submitted with one).' })),
}, {
  $id: 'Task', additionalProperties: true,
  description: 'Poll until "status" is no longer "processing": then "completed" (read data[]), "failed" (read error) or "canceled".',
});

export const TaskNotFound = Type.Object({
  status: Type.Literal('failed', { description: 'Beside the error, so a poller that reads only "status" stops.' }),
  error: ErrorDetail,
}, { $id: 'TaskNotFound', additionalProperties: true });

export const HealthResponse = Type.Object({
  status: Type.Literal('ok'),
  ready: Type.Boolean({ description: 'Whether the engine has loaded and can run tasks.' }),
  engine: Type.Object({
    name: Nullable(Type.String()),
    synthetic: Type.Optional(Type.Boolean()),
    state: Type.String({ description: 'loading, ready, error, or none on an API-only node.' }),
    message: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    device: Type.Optional(Type.String()),
  }, { additionalProperties: true }),
  queue: Type.Object({
    backend: Type.String(),
    queued: Type.Integer(),
    running: Type.Integer(),
  }, { additionalProperties: true }),
  workers: Type.Array(Type.Object({
    id: Type.String(),
    host: Type.String(),
    engine: Type.String(),
    synthetic: Type.Boolean(),
    model: Nullable(Type.String()),
    device: Nullable(Type.String()),
    state: Type.String({ description: 'The worker loop: idle, claiming, running, waiting_for_engine, waiting_for_storage (the storage is full), stopping.' }),
    engine_state: Type.String({ description: 'loading, ready or error.' }),
    current_task: Nullable(Type.String()),
    last_heartbeat: Type.Integer({ description: 'Unix seconds of its last registry heartbeat.' }),
  }, { additionalProperties: true }), { description: 'The live engine workers: this process\'s, or every worker of the fleet.' }),
  storage: Type.Object({
    backend: Type.String({ description: 'local or s3.' }),
    full: Type.Boolean({ description: 'True while new tasks are refused with 507 `storage_full` (free space below ZIMAGE_MIN_FREE_MB, or a write failed for lack of space). Clears by itself once space returns.' }),
    free_bytes: Nullable(Type.Integer({ description: 'Free bytes on the fullest local directory this server writes to; null where none is measured (S3).' })),
    message: Nullable(Type.String()),
  }, { additionalProperties: true }),
  logs: Type.Object({
    write_errors: Type.Integer({ description: 'Log writes to stdout that failed (a full disk, a closed pipe): counted and retried, never fatal.' }),
    dropped_lines: Type.Integer({ description: 'Log lines given up because the destination took none for too long.' }),
    last_error: Nullable(Type.String({ description: 'The code of the latest failed write (EPIPE, ENOSPC, EAGAIN, ...).' })),
  }, { additionalProperties: true }),
}, { $id: 'Health', additionalProperties: true });

/**
 * Submit options beside the task parameters (read by submitMeta in imageSubmit.ts,
 * not by the task schema): documented on the submit routes, whose own checks give the errors.
 */
export const submitBody = <T extends TObject>(params: T) => Type.Object({
  ...params.properties,
  webhook_url: Type.Optional(Type.String({
    maxLength: 2048, description: 'An http(s) URL that receives the finished task (the JSON of GET /v1/images/tasks/{task_id}) as a signed POST.',
  })),
}, { additionalProperties: true });

export const SubmitHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    maxLength: 255, description: 'Sending the same key again returns the first task instead of queueing a second one (safe retries).',
  })),
});

/** `?wait=` of the poll route. A string, as parseWait reads it: Ajv must not coerce it to a number. */
export const waitQuery = (maxSeconds: number) => Type.Object({
  wait: Type.Optional(Type.String({
    pattern: '^\\s*\\d+(\\.\\d+)?\\s*$', examples: ['30'],
    description: `Seconds (0 to ${maxSeconds}) to hold the answer until the task finishes; it comes at once when it does.`,
  })),
});

export const TaskList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Type.Ref('Task')),
  next_cursor: Nullable(Type.String({ description: 'Pass as ?cursor= for the next page.' })),
  has_more: Type.Boolean(),
}, { $id: 'TaskList', additionalProperties: true });

export const TaskDeleted = Type.Object({
  task_id: Type.String(),
  object: Type.Literal('task.deleted'),
  deleted: Type.Literal(true),
}, {
  $id: 'TaskDeleted', additionalProperties: true,
  description: 'The finished task is deleted with its images and uploads: polling it, or its image URLs, now answers 404.',
});

/** Every shared schema, for `app.addSchema` (order matters: referenced before referencing). */
export const SHARED_SCHEMAS = [ErrorResponse, SubmitResponse, TaskImage, TaskResponse, TaskList, TaskNotFound, TaskDeleted, HealthResponse];

/** `{ $ref }` to a shared schema, with the response's description beside it. */
const refTo = (id: string) => (description: string) => ({ $ref: id, description });

export const ref = {
  error: refTo('Error'),
  submit: refTo('SubmitResponse'),
  task: refTo('Task'),
  taskNotFound: refTo('TaskNotFound'),
  taskList: refTo('TaskList'),
  taskDeleted: refTo('TaskDeleted'),
  health: refTo('Health'),
};

/** A binary file, as OpenAPI 3.1 writes it (format: binary kept for 3.0-era tools). */
export const binary = (description: string, mediaType = 'application/octet-stream') =>
  ({ type: 'string', format: 'binary', contentMediaType: mediaType, description });

/** Raw image bytes answered by a download route, in each format the server writes. */
export const imageContent = (description: string) => ({
  description,
  content: Object.fromEntries(['image/png', 'image/jpeg', 'image/webp'].map((t) => [t, { schema: binary('The image file.', t) }])),
});

/** A JSON answer with an explicit media type, for routes that otherwise produce something else. */
const json = (id: string, description: string) => ({ description, content: { 'application/json': { schema: { $ref: id } } } });

export const cancelResponses = {
  200: ref.task('Canceled ("status": "canceled").'),
  202: ref.task('Running: asked to stop ("cancel_requested": true); it stops within one step. Poll it.'),
  404: ref.taskNotFound('No such task (or not yours).'),
  409: ref.error('The task already finished.'),
};

/**
 * DELETE answers by what the task is: a finished one is deleted, a queued or running one is
 * canceled exactly as by POST .../cancel (so its 200 is either shape).
 */
export const deleteResponses = {
  200: {
    description: 'Finished: deleted with its images and uploads ("object": "task.deleted"). Queued: canceled ("status": "canceled").',
    anyOf: [{ $ref: 'TaskDeleted' }, { $ref: 'Task' }],
  },
  202: cancelResponses[202],
  404: ref.taskNotFound('No such task (or not yours, or already deleted).'),
  409: ref.error('It was running and finished before the cancel took effect; DELETE it again to delete it.'),
};

export const eventStreamResponses = {
  200: {
    description: 'Server-Sent Events; each event\'s data is the task JSON as the poll answers it. The stream ends after the final event.',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
  404: json('TaskNotFound', 'No such task (or not yours).'),
};

/** The usual client errors of a submit route. */
export const submitErrors = {
  400: ref.error('Invalid request: the error says which field and why.'),
  413: ref.error('Body or upload too large.'),
  415: ref.error('Wrong Content-Type.'),
  429: ref.error('This API key has as many tasks queued as it may (too_many_queued), or sent too many requests this minute (rate_limited): retry after Retry-After seconds.'),
  503: ref.error('Queue full: retry after Retry-After seconds.'),
  507: ref.error('Storage full (storage_full): the server has no room for new tasks; accepted tasks are kept. Retry after Retry-After seconds.'),
};
