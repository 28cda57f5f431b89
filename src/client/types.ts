/**
 * The public API's shapes, as clients see them. Derived from the same TypeBox schemas that
 * validate requests (src/tasks/params.ts) and document answers (src/http/schemas.ts), so a
 * field added there is a field here. Type-only imports: the client carries no schema code,
 * and compiles for the browser too (the playground).
 */
import type { Static } from '@sinclair/typebox';
import type { EditRequest, GenerateRequest } from '../tasks/params.js';
import type {
  ErrorDetail as ErrorDetailSchema, HealthResponse, SubmitResponse, TaskImage as TaskImageSchema,
  TaskList as TaskListSchema, TaskResponse,
} from '../http/schemas.js';

/** Options beside the image parameters that every submit route takes. */
export interface SubmitExtras {
  /** Receives the finished task as a signed POST. */
  webhook_url?: string;
}

export type GenerateParams = Static<typeof GenerateRequest> & SubmitExtras;
export type EditParams = Static<typeof EditRequest> & SubmitExtras;

/** An image to upload: bytes, or a Blob/File (a browser's file picker gives one). */
export type ImageInput = Blob | Uint8Array | ArrayBuffer;

export interface EditInput extends EditParams {
  image: ImageInput;
  /** White where the image should change, black where it must stay. */
  mask?: ImageInput;
}

export type TaskImage = Static<typeof TaskImageSchema>;
/**
 * A running task's live preview (ZIMAGE_PREVIEW_EVERY): on the poll answer, where it is (`url`);
 * on a `preview` event, the image itself (`b64_json`, WebP, at most 256 px). Never an output.
 */
export interface TaskPreview {
  step: number;
  total_steps: number;
  width: number;
  height: number;
  output_format: 'webp';
  url?: string;
  b64_json?: string;
}
/** A task as GET /v1/images/tasks/{id} answers it. */
export type Task = Omit<Static<typeof TaskResponse>, 'data'> & { data?: TaskImage[]; preview?: TaskPreview };
export type TaskStatus = Task['status'];
export type TaskList = Omit<Static<typeof TaskListSchema>, 'data'> & { data: Task[] };
export type Submitted = Static<typeof SubmitResponse>;
export type Health = Static<typeof HealthResponse>;
export type ErrorDetail = Static<typeof ErrorDetailSchema>;

/** DELETE /v1/images/tasks/{id} of a finished task. */
export interface Deleted {
  task_id: string;
  object: 'task.deleted';
  deleted: true;
}

export interface Model {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: Model[];
}

/**
 * The events of GET /v1/images/tasks/{id}/events; each carries the task as a poll would answer it.
 * `preview` (while running) carries it too, with `preview.b64_json`: still "processing", so wait() goes on.
 */
export type TaskEventName =
  | 'state' | 'position' | 'started' | 'progress' | 'requeued' | 'cancel_requested'
  | 'completed' | 'failed' | 'canceled' | 'preview';

export interface TaskStreamEvent {
  event: TaskEventName;
  /** The stream position, for resuming (Last-Event-ID). */
  id?: string;
  task: Task;
}

export interface ListQuery {
  /** processing, completed, failed, canceled (or queued, running); several comma-separated. */
  status?: string;
  limit?: number;
  cursor?: string;
}
