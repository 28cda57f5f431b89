import type { Storage, TaskOutput, TaskRecord } from '../interfaces.js';
import type { TaskView, WebhookSummary } from './service.js';

/** Public status of the skill contract: queued and running are both "processing". */
export type PublicStatus = 'processing' | 'completed' | 'failed' | 'canceled';

export function publicStatus(task: TaskRecord): PublicStatus {
  return task.state === 'queued' || task.state === 'running' ? 'processing' : task.state;
}

export const outputUrl = (baseUrl: string, out: TaskOutput) => `${baseUrl}/${out.file}`;

/** One image as the contract shows it: {"url"} or {"b64_json"}, plus its seed and size. */
export async function presentImage(task: TaskRecord, out: TaskOutput, baseUrl: string, storage: Storage) {
  const meta = { seed: out.seed, width: out.width, height: out.height, output_format: out.format };
  if (task.params.response_format === 'b64_json') {
    const obj = await storage.get(out.file);
    if (!obj) return { b64_json: null, ...meta, error: 'image file missing from storage' };
    return { b64_json: obj.data.toString('base64'), ...meta };
  }
  return { url: outputUrl(baseUrl, out), ...meta };
}

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/**
 * The message of a queued task counts as `queue_position` does: the tasks ahead of it, so
 * 0 means it runs next. (The two once disagreed: position 0 read "position 1".)
 */
export function queuedMessage(ahead: number): string {
  const who = ahead === 0 ? 'it runs next' : `${ahead} task${ahead === 1 ? '' : 's'} ahead of it`;
  return `Waiting in the queue: ${who} (queue_position ${ahead}). Poll again in a few seconds.`;
}

/** The `webhook` field: where the delivery of the finished task to webhook_url stands. */
export function presentWebhook(w: WebhookSummary) {
  return {
    url: w.url,
    status: w.status,
    attempts: w.attempts.map((a) => ({ at: seconds(a.at), status_code: a.statusCode, error: a.error, duration_ms: a.durationMs })),
    next_attempt_at: seconds(w.nextAttemptAt),
  };
}

/** The task's resolved parameters, in the request's own field names. */
export function presentRequest(task: TaskRecord): Record<string, unknown> {
  const p = task.params;
  const request: Record<string, unknown> = {
    prompt: p.prompt, size: `${p.width}x${p.height}`, n: p.n, seed: p.seed, output_format: p.output_format,
  };
  if (p.negative_prompt) request.negative_prompt = p.negative_prompt;
  if (p.num_inference_steps !== undefined) request.num_inference_steps = p.num_inference_steps;
  if (p.guidance_scale !== undefined) request.guidance_scale = p.guidance_scale;
  if (p.strength !== undefined) request.strength = p.strength;
  if (p.output_compression !== undefined) request.output_compression = p.output_compression;
  return request;
}

/**
 * The task as GET /v1/images/tasks/{id} answers it. The fields the skill document names
 * (status, data[].url, data[].b64_json) are exactly as it describes; the rest extends it.
 */
export async function presentTask(view: TaskView, baseUrl: string, storage: Storage): Promise<Record<string, unknown>> {
  const { task } = view;
  const status = publicStatus(task);
  const body: Record<string, unknown> = {
    task_id: task.id,
    status,
    kind: task.kind,
    created_at: seconds(task.createdAt),
  };
  // What was asked for, so a client can show it and "use these settings again". Retention's
  // tombstone keeps no prompt, and then no request.
  if (task.params.prompt) body.request = presentRequest(task);
  if (status === 'processing') {
    const total = task.progress?.total ?? view.totalSteps ?? null;
    const step = task.progress?.step ?? 0;
    Object.assign(body, {
      stage: task.state,
      queue_position: view.queuePosition,
      progress: total ? Math.round((step / total) * 1000) / 1000 : 0,
      step,
      total_steps: total,
      eta_seconds: view.etaSeconds,
      attempts: task.attempts,
      message: task.state === 'queued' ? queuedMessage(view.queuePosition ?? 0) : 'Generating. Poll again in a few seconds.',
    });
    if (task.cancelRequested) body.cancel_requested = true;
    if (view.webhook) body.webhook = presentWebhook(view.webhook);
    return body;
  }
  body.finished_at = seconds(task.finishedAt);
  if (status === 'completed' && task.result) {
    body.created = seconds(task.finishedAt);
    body.data = await Promise.all(task.result.outputs.map((o) => presentImage(task, o, baseUrl, storage)));
    body.engine = task.result.engine;
    body.synthetic = task.result.synthetic;
    if (task.result.synthetic) body.notice = 'These images come from the synthetic test-pattern engine, not an image model.';
    body.progress = 1;
  }
  if (status === 'failed' && task.error) {
    body.error = { code: task.error.code, message: task.error.message, retryable: task.error.retryable };
  }
  if (view.webhook) body.webhook = presentWebhook(view.webhook);
  return body;
}
