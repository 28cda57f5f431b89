import { CanceledError, EngineError, LostClaimError, TransientStorageError } from '../errors.js';
import { decodeMask, decodeToRaw } from '../images/decode.js';
import { contentTypeOf, encodeImage, extensionOf } from '../images/encode.js';
import { newOutputName } from '../ids.js';
import type { Claim, Engine, Job, RawImage, Storage, TaskError, TaskOutput, TaskRecord, WorkQueue } from '../interfaces.js';
import type { Logger } from '../log.js';
import { transientOr } from '../storage/faults.js';
import { retryTransient, storageFailure } from './transient.js';
import { PreviewPublisher } from './previews.js';

export interface RunDeps {
  queue: WorkQueue;
  engine: Engine;
  storage: Storage;
  log: Logger;
  leaseMs: number;
  taskTimeoutMs: number;
  maxInputPixels: number;
  /** ZIMAGE_PREVIEW_EVERY: steps between live previews; 0 or absent: none. */
  previewEvery?: number;
}

/** Why a run was aborted; decides whether the task is canceled, failed or handed back. */
export type AbortReason = 'cancel' | 'timeout' | 'shutdown' | 'lost_claim';

async function loadInput(
  storage: Storage, key: string | null, task: TaskRecord, maxPixels: number, decode: typeof decodeToRaw,
): Promise<RawImage | undefined> {
  if (!key) return undefined;
  const obj = await transientOr('reading the uploaded image', () => storage.get(key));
  if (!obj) throw new EngineError('input_missing', 'The uploaded image is no longer stored. Submit the edit again.', false);
  return decode(obj.data, { width: task.params.width, height: task.params.height, maxPixels });
}

export async function jobOf(task: TaskRecord, storage: Storage, maxPixels: number): Promise<Job> {
  const p = task.params;
  return {
    taskId: task.id,
    kind: task.kind,
    prompt: p.prompt,
    negativePrompt: p.negative_prompt,
    width: p.width,
    height: p.height,
    seeds: Array.from({ length: p.n }, (_, i) => (p.seed + i) >>> 0),
    steps: p.num_inference_steps,
    guidanceScale: p.guidance_scale,
    strength: p.strength,
    image: await loadInput(storage, task.inputKey, task, maxPixels, decodeToRaw),
    // Masks keep their alpha: OpenAI-style masks mark the area to repaint as transparent.
    mask: await loadInput(storage, task.maskKey, task, maxPixels, decodeMask),
  };
}

/** Encodes and stores every image, labelling synthetic ones in their metadata. */
async function storeOutputs(task: TaskRecord, job: Job, images: RawImage[], deps: RunDeps): Promise<TaskOutput[]> {
  const { engine, storage } = deps;
  const format = task.params.output_format;
  const state = engine.state();
  return Promise.all(images.map(async (raw, i) => {
    const metadata: Record<string, string> = {
      Software: engine.synthetic ? 'Z-Image Server synthetic test-pattern engine (NOT a model output)' : `Z-Image Server (${engine.name})`,
      Engine: engine.name,
      Synthetic: String(engine.synthetic),
      Model: state.model ?? engine.name,
      Seed: String(job.seeds[i]),
      Prompt: task.params.prompt.slice(0, 1000),
    };
    const data = await encodeImage(raw, format, { quality: task.params.output_compression, metadata });
    const file = `outputs/${newOutputName(task.kind, extensionOf(format))}`;
    await transientOr('storing the images', () => storage.put(file, data, contentTypeOf(format)));
    return { file, seed: job.seeds[i], width: raw.width, height: raw.height, format, bytes: data.length };
  }));
}

const failure = (code: string, message: string, retryable: boolean): TaskError => ({ code, message, retryable });

/**
 * Runs one claimed task to a final write: completed, failed, canceled or handed back.
 * Never throws: every outcome is recorded through the queue with the claim's token.
 */
export async function runTask(claim: Claim, deps: RunDeps, outerSignal: AbortSignal): Promise<void> {
  const { queue, engine, log } = deps;
  const task = claim.task;
  const abort = new AbortController();
  let reason: AbortReason | undefined;
  const stop = (why: AbortReason) => {
    if (!reason) reason = why;
    abort.abort();
  };
  // The claim's signal fires on a cancel (from any node) or a lost lease.
  const onClaimAbort = () => stop(claim.abortReason() ?? 'cancel');
  claim.signal.addEventListener('abort', onClaimAbort);
  if (claim.signal.aborted) onClaimAbort();
  const onShutdown = () => stop('shutdown');
  outerSignal.addEventListener('abort', onShutdown);
  if (outerSignal.aborted) stop('shutdown');
  const timeout = setTimeout(() => stop('timeout'), deps.taskTimeoutMs);
  const heartbeat = setInterval(() => {
    queue.heartbeat(claim).catch((err) => err instanceof LostClaimError && stop('lost_claim'));
  }, Math.max(500, deps.leaseMs / 3));
  const started = Date.now();
  let stored: TaskOutput[] = [];
  // Set once the final write is on its way: if it fails other than by a lost claim, it may still
  // have committed (a lost answer from Postgres), so the images stay; the orphan sweep removes
  // them if no task names them.
  let committing = false;
  // Previews only where the queue can publish them; closed before any final write, so none follows it.
  const previewEvery = Math.max(0, Math.floor(deps.previewEvery ?? 0));
  const previews = previewEvery > 0 && queue.preview
    ? new PreviewPublisher(queue as WorkQueue & Required<Pick<WorkQueue, 'preview'>>, claim, log)
    : undefined;
  try {
    const job = await jobOf(task, deps.storage, deps.maxInputPixels);
    const images = await engine.run(job, {
      signal: abort.signal,
      onProgress: (step, total) => {
        queue.progress(claim, { step, total }).catch((err) => err instanceof LostClaimError && stop('lost_claim'));
      },
      ...(previews ? { previewEvery, onPreview: (p) => previews.offer(p) } : {}),
    });
    previews?.close();
    if (reason) throw new CanceledError();
    stored = await storeOutputs(task, job, images, deps);
    committing = true;
    const result = { outputs: stored, engine: engine.name, synthetic: engine.synthetic, model: engine.state().model };
    await transientOr('recording the result', () => queue.complete(claim, result));
    log.info({ task: task.id, ms: Date.now() - started, n: stored.length }, 'task completed');
  } catch (err) {
    previews?.close();
    // Images stored for a task that did not complete (e.g. its claim was lost) are nobody's.
    if (!committing || err instanceof LostClaimError) await Promise.all(stored.map((o) => deps.storage.delete(o.file).catch(() => undefined)));
    await recordFailure(claim, err, reason, deps, Date.now() - started);
  } finally {
    previews?.close();
    clearTimeout(timeout);
    clearInterval(heartbeat);
    claim.signal.removeEventListener('abort', onClaimAbort);
    outerSignal.removeEventListener('abort', onShutdown);
  }
}

async function recordFailure(claim: Claim, err: unknown, reason: AbortReason | undefined, deps: RunDeps, ms: number) {
  const { log } = deps;
  const id = claim.task.id;
  try {
    // A write that fails for a passing reason (the database's disk is full too) is tried again
    // for a few seconds, while the heartbeat keeps the claim, rather than left to the lease.
    await retryTransient(() => recordOutcome(claim, err, reason, deps, ms));
  } catch (writeErr) {
    if (writeErr instanceof LostClaimError) log.warn({ task: id }, 'claim lost while recording the outcome');
    else log.error({ task: id, err: writeErr }, 'could not record the task outcome');
  }
}

async function recordOutcome(claim: Claim, err: unknown, reason: AbortReason | undefined, deps: RunDeps, ms: number) {
  const { queue, log } = deps;
  const id = claim.task.id;
  if (err instanceof LostClaimError || reason === 'lost_claim') {
    log.warn({ task: id }, 'claim lost (task reclaimed elsewhere); dropping this run');
  } else if (reason === 'cancel') {
    await queue.finishCanceled(claim);
    log.info({ task: id, ms }, 'task canceled');
  } else if (reason === 'shutdown') {
    await queue.release(claim);
    log.info({ task: id }, 'task handed back to the queue for shutdown');
  } else if (reason === 'timeout') {
    await queue.fail(claim, failure('timeout',
      `The engine ran longer than ZIMAGE_TASK_TIMEOUT_SECONDS (${Math.round(deps.taskTimeoutMs / 1000)} s) and was stopped. ` +
      'Try fewer steps, a smaller size or fewer images.', false), { retry: false }); // the same run would time out again
    log.warn({ task: id, ms }, 'task timed out');
  } else if (err instanceof TransientStorageError) {
    // Not the engine's fault: the task goes back for later, its attempt refunded (see queue/deferral.ts).
    const out = await queue.defer(claim, storageFailure(err));
    log.warn({ task: id, code: err.code, operation: err.operation, state: out.state, retryInMs: out.delayMs },
      `transient storage fault while ${err.operation}; the task was handed back for later`);
  } else if (err instanceof EngineError) {
    const state = await queue.fail(claim, failure(err.code, err.message, err.retryable), { retry: err.retryable });
    log.warn({ task: id, code: err.code, state }, `engine error: ${err.message}`);
  } else {
    const state = await queue.fail(claim, failure('internal_error',
      `The server hit an unexpected error while running the task (${(err as Error)?.message ?? err}). It has been logged; retrying may help.`, true),
    { retry: true });
    log.error({ task: id, err, state }, 'task run failed unexpectedly');
  }
}
