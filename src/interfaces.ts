/**
 * The shared vocabulary of Z-Image Server: tasks, jobs, engines, queues and storage.
 * Every layer talks to the others only through these types, so an implementation
 * (SQLite or Redis queue, synthetic or diffusers engine, directory or S3 storage)
 * can be swapped without touching its callers.
 */

export type TaskKind = 'generate' | 'edit';
/** Internal lifecycle. The public `status` maps queued|running → "processing". */
export type TaskState = 'queued' | 'running' | 'completed' | 'failed' | 'canceled';
export const FINAL_STATES: readonly TaskState[] = ['completed', 'failed', 'canceled'];
export type OutputFormat = 'png' | 'jpeg' | 'webp';
export type ResponseFormat = 'url' | 'b64_json';

/** Validated, fully resolved request parameters, stored with the task. */
export interface TaskParams {
  prompt: string;
  negative_prompt?: string;
  n: number;
  width: number;
  height: number;
  /** Seed of the first image; image i uses seed + i. Always resolved at submit time. */
  seed: number;
  num_inference_steps?: number;
  guidance_scale?: number;
  /** Edit only: how far the result may move from the input (0..1). */
  strength?: number;
  output_format: OutputFormat;
  /** 0..100 quality for jpeg/webp. */
  output_compression?: number;
  response_format: ResponseFormat;
}

export interface TaskOutput {
  /** Storage key of the encoded image (never a client-provided name). */
  file: string;
  seed: number;
  width: number;
  height: number;
  format: OutputFormat;
  bytes: number;
}

export interface TaskResult {
  outputs: TaskOutput[];
  engine: string;
  /** True when the synthetic test-pattern engine made these images. */
  synthetic: boolean;
  model?: string;
}

export interface TaskError {
  code: string;
  message: string;
  /** Whether submitting the same request again may succeed. */
  retryable: boolean;
}

export interface TaskProgress {
  step: number;
  total: number;
}

export interface TaskRecord {
  id: string;
  kind: TaskKind;
  state: TaskState;
  params: TaskParams;
  /** Storage key of the uploaded input image (edit tasks). */
  inputKey: string | null;
  /** Storage key of the uploaded mask (edit tasks). */
  maskKey: string | null;
  attempts: number;
  maxAttempts: number;
  progress: TaskProgress | null;
  result: TaskResult | null;
  error: TaskError | null;
  cancelRequested: boolean;
  /** Who submitted it (API key name, or "anonymous"); scopes idempotency keys. */
  owner: string;
  idempotencyKey: string | null;
  webhookUrl: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface NewTask {
  kind: TaskKind;
  params: TaskParams;
  inputKey?: string | null;
  maskKey?: string | null;
  owner?: string;
  idempotencyKey?: string | null;
  /** Fingerprint of what was asked for; a repeated idempotency key with another one is refused. */
  requestHash?: string | null;
  webhookUrl?: string | null;
  maxAttempts?: number;
}

export interface EnqueueOptions {
  /** Refuse (QueueFullError) when this many tasks are already queued. */
  maxQueued?: number;
  /** Refuse (OwnerQueueFullError) when the task's owner already has this many tasks queued. */
  maxQueuedPerOwner?: number;
}

/**
 * A task held by one worker. The token fences every write the worker makes; the signal fires
 * when the claim should stop (cancel requested from any node, or the lease was lost), so the
 * engine stops within a step without the worker listening to anything else.
 */
export interface Claim {
  task: TaskRecord;
  token: string;
  signal: AbortSignal;
  /** Why the signal fired: 'cancel' or 'lost_claim'; undefined while it has not. */
  abortReason(): 'cancel' | 'lost_claim' | undefined;
}

export type TaskEventType =
  | 'queued'
  | 'started'
  | 'progress'
  | 'requeued'
  | 'cancel_requested'
  | 'completed'
  | 'failed'
  | 'canceled'
  /** A live preview of a running task: ephemeral, never stored, never an output. */
  | 'preview';

/**
 * A small, cheap picture of a running task's unfinished image (at most 256 px on its long
 * side, WebP). Previews travel as events only: they are not written to the task, not stored
 * as outputs, and are forgotten when the task ends.
 */
export interface TaskPreview {
  /** The step it shows (of `total`, counted like progress). */
  step: number;
  total: number;
  width: number;
  height: number;
  format: 'webp';
  /** The encoded image. */
  data: Buffer;
}

export interface TaskEvent {
  type: TaskEventType;
  taskId: string;
  /** Present on 'progress'. */
  progress?: TaskProgress;
  /** Present on 'preview'. */
  preview?: TaskPreview;
  at: number;
}

export interface QueueStats {
  queued: number;
  running: number;
}

export interface ListOptions {
  /** One state, or any of several (the public "processing" is queued + running). */
  state?: TaskState | readonly TaskState[];
  owner?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  nextCursor: string | null;
}

/**
 * The ports, split by role (see ../shared/design.md). An API node needs the task store and
 * the events; a GPU worker needs only the work queue; housekeeping runs under one leader.
 * SQLite implements all four in one process (`Queue`); a fleet uses Postgres + BullMQ.
 */

/** Submit, read, list, cancel, remove: what the task service (and so the HTTP API) uses. */
export interface TaskStore {
  readonly name: string;
  /**
   * Commits the task durably before resolving. Returns the existing task for a repeated
   * idempotency key. Throws QueueFullError when `maxQueued` tasks are already waiting.
   */
  enqueue(task: NewTask, opts?: EnqueueOptions): Promise<{ task: TaskRecord; created: boolean }>;
  get(id: string): Promise<TaskRecord | undefined>;
  /** 0-based number of queued tasks ahead of this one; undefined unless queued. */
  position(id: string): Promise<number | undefined>;
  list(opts: ListOptions): Promise<TaskPage>;
  /** Queued → canceled at once; running → cancelRequested (the worker's claim signal fires). */
  cancel(id: string): Promise<TaskRecord | undefined>;
  /**
   * Deletes a finished task (completed, failed or canceled, retention tombstones included) and
   * its webhook delivery, in one statement, and returns the storage keys (outputs, uploads) that
   * the caller must delete. Undefined, changing nothing, when no finished task has this id
   * (unknown, already removed, or still queued/running: those are canceled, never removed).
   */
  remove(id: string): Promise<{ keys: string[] } | undefined>;
  stats(): Promise<QueueStats>;
}

/** Claim, heartbeat, progress and the final writes: all a GPU worker needs. Every write is fenced by the claim's token. */
export interface WorkQueue {
  /** Claims the oldest claimable task, counting the attempt. Undefined when none is ready. */
  claim(workerId: string): Promise<Claim | undefined>;
  /** Extends the claim's lease. Throws LostClaimError if the claim is no longer ours. */
  heartbeat(claim: Claim): Promise<void>;
  /** Records live progress (fenced). A cancel flag seen here fires the claim's signal (the backstop of the cancel event). */
  progress(claim: Claim, progress: TaskProgress): Promise<void>;
  complete(claim: Claim, result: TaskResult): Promise<void>;
  /** Fails the task; with retry and attempts left it goes back to queued instead. */
  fail(claim: Claim, error: TaskError, opts: { retry: boolean }): Promise<TaskState>;
  /** Hands a claimed task back without spending an attempt (graceful shutdown). */
  release(claim: Claim): Promise<void>;
  /**
   * Hands a claimed task back after a transient local fault (storage full, too many open files,
   * an I/O error): no attempt spent, the deferral counted, and not claimable again before an
   * exponential backoff (see queue/deferral.ts). A cancel asked for meanwhile finishes it canceled;
   * past MAX_DEFERRALS it fails with `error`.
   */
  defer(claim: Claim, error: TaskError): Promise<{ state: 'queued' | 'canceled' | 'failed'; delayMs: number }>;
  /** Marks a running task canceled once its worker has stopped. */
  finishCanceled(claim: Claim): Promise<void>;
  /**
   * Publishes a live preview of a claimed, running task as a 'preview' event (in-process, or
   * across the fleet). Best effort and unfenced: nothing is written, a lost preview is harmless.
   * Optional: a queue without it gets no previews.
   */
  preview?(claim: Claim, preview: TaskPreview): void;
  /** Resolves when a task may be claimable (or after a fallback delay, or on abort). */
  waitForWork(signal: AbortSignal): Promise<void>;
}

/** Maintenance: one process at a time in a fleet (under the leader lock). */
export interface Housekeeping {
  /** Requeues running tasks whose lease expired (their worker is gone). Returns how many. */
  recover(): Promise<number>;
  /**
   * Retention: finished tasks older than `before` (epoch ms) keep only a tombstone that
   * answers `failed`/`expired`. Works in batches: returns how many tasks it expired in this
   * batch (0 when none are left) and the storage keys (outputs, uploads) to delete.
   */
  expireFinished(before: number): Promise<{ count: number; keys: string[] }>;
  /**
   * Which of these storage keys a task row names (as an output, an uploaded image or a mask), in
   * any state: the orphan sweep deletes stored files that none does.
   */
  referencedKeys(keys: readonly string[]): Promise<Set<string>>;
}

/** Task events, heard by every node. Hints only: consumers re-read the record, and tolerate a missed event. */
export interface TaskEvents {
  subscribe(listener: (event: TaskEvent) => void): () => void;
}

/** The embedded SQLite queue: every role in one object, in one process. */
export interface Queue extends TaskStore, WorkQueue, Housekeeping, TaskEvents {
  close(): Promise<void>;
}

export interface RawImage {
  width: number;
  height: number;
  channels: 3 | 4;
  /** Tightly packed 8-bit interleaved pixels, row-major. */
  data: Buffer;
}

/** What an engine is asked to do: no queue, no HTTP, no storage. */
export interface Job {
  taskId: string;
  kind: TaskKind;
  prompt: string;
  negativePrompt?: string;
  width: number;
  height: number;
  /** One seed per requested image; the engine returns exactly seeds.length images. */
  seeds: number[];
  steps?: number;
  guidanceScale?: number;
  strength?: number;
  /** Edit input, decoded. */
  image?: RawImage;
  mask?: RawImage;
}

/** An unfinished image an engine shows while it works (see EngineContext.onPreview). */
export interface EnginePreview {
  /** The step it shows, counted like onProgress's (1-based, over all images of the job). */
  step: number;
  total: number;
  /** Small and cheap: at most a few hundred pixels on its long side; the worker scales and encodes it. */
  image: RawImage;
}

export interface EngineContext {
  onProgress(step: number, total: number): void;
  /**
   * Present when previews are wanted: the engine calls it about every `previewEvery` steps
   * with a cheap picture of the unfinished image (never the final decode of a step). It must
   * not slow the run: the engine may skip previews it cannot make cheaply.
   */
  onPreview?(preview: EnginePreview): void;
  /** Steps between previews (ZIMAGE_PREVIEW_EVERY); only meaningful with onPreview. */
  previewEvery?: number;
  signal: AbortSignal;
}

export type EngineStateName = 'loading' | 'ready' | 'error';

export interface EngineState {
  state: EngineStateName;
  message?: string;
  model?: string;
  device?: string;
}

export interface Engine {
  readonly name: string;
  /** True for engines whose pixels are not a model's (the synthetic test pattern). */
  readonly synthetic: boolean;
  state(): EngineState;
  /** Loads the model (and resolves when ready, or rejects with the load error). */
  start(): Promise<void>;
  /** Default steps used when a job gives none, for progress and ETA before the first step. */
  defaultSteps(kind: TaskKind): number;
  run(job: Job, ctx: EngineContext): Promise<RawImage[]>;
  close(): Promise<void>;
}

/** Where encoded outputs and uploads live (a directory or S3): see storage/storage.ts. */
export type { ByteRange, ListedObject, ObjectInfo, ObjectStream, Storage, StoredObject } from './storage/storage.js';
