/** Results and errors as the model reads them. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AbortedError, ApiResponseError, ServerUnreachableError, type Task } from '../client/index.js';
import type { McpToolOptions } from './context.js';
import { ImageInputError } from './imageInput.js';

type Content = CallToolResult['content'][number];

const MIME: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };
export const text = (t: string): Content => ({ type: 'text', text: t });
export const fail = (message: string): CallToolResult => ({ isError: true, content: [text(message)] });

/** A failed call, with the server's code and message (or why there was no answer). */
export function toolError(err: unknown, opts: Pick<McpToolOptions, 'authHint'> = {}): CallToolResult {
  if (err instanceof ApiResponseError) {
    const param = err.param ? `, param "${err.param}"` : '';
    const retry = err.retryAfterSeconds ? ` Retry after ${err.retryAfterSeconds} s.` : '';
    const hint = err.status === 401 && opts.authHint ? ` ${opts.authHint}` : '';
    return fail(`Error ${err.code} (HTTP ${err.status}${param}): ${err.message}${retry}${hint}`);
  }
  if (err instanceof ImageInputError) return fail(`Error ${err.code} (param "${err.param}"): ${err.message}`);
  if (err instanceof ServerUnreachableError) return fail(`Error server_unreachable: ${err.message}`);
  if (err instanceof AbortedError) return fail('Error canceled: the request was canceled.');
  return fail(`Error internal_error: ${(err as Error)?.message ?? String(err)}`);
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const eta = (task: Task) => (typeof task.eta_seconds === 'number' ? `, about ${Math.max(1, Math.round(task.eta_seconds))} s left` : '');

/** Where a task stands, in a few words (progress messages and timeouts). */
export function describeProgress(task: Task): string {
  if (task.status === 'completed') return 'completed';
  if (task.status === 'failed') return `failed${task.error ? `: ${task.error.message}` : ''}`;
  if (task.status === 'canceled') return 'canceled';
  if (task.cancel_requested) return 'canceling';
  if (task.stage === 'running') {
    const steps = task.step && task.total_steps ? `step ${task.step} of ${task.total_steps}` : 'starting';
    return `running, ${steps}${eta(task)}`;
  }
  const ahead = task.queue_position;
  const where = typeof ahead === 'number' ? (ahead === 0 ? 'next in line' : `${plural(ahead, 'task')} ahead`) : 'waiting for a worker';
  return `queued, ${where}${eta(task)}`;
}

function describeRequest(task: Task): string {
  const r = task.request;
  if (!r) return '';
  const parts = [`size ${r.size}`, `n ${r.n}`, `seed ${r.seed}`];
  if (r.num_inference_steps !== undefined) parts.push(`steps ${r.num_inference_steps}`);
  if (r.strength !== undefined) parts.push(`strength ${r.strength}`);
  parts.push(r.output_format);
  return `\nPrompt: ${JSON.stringify(r.prompt)} (${parts.join(', ')})`;
}

const isoOf = (unixSeconds: number | null | undefined) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : undefined);

/** The task as a tool result: images (as image content, each with its URL, seed and size) when completed. */
export async function taskResult(task: Task, opts: McpToolOptions, includeImages: boolean, call: { signal?: AbortSignal }, waited?: number): Promise<CallToolResult> {
  const head = `Task ${task.task_id} (${task.kind})`;
  if (task.status === 'processing') {
    const after = waited ? ` after ${waited} s` : '';
    return {
      content: [text(`${head} is still processing${after}: ${describeProgress(task)}. It keeps running on the server. `
        + `Call get_task with task_id "${task.task_id}" (and wait_seconds to wait for it) to get the images.${describeRequest(task)}`)],
    };
  }
  if (task.status === 'failed') {
    const e = task.error;
    const why = e ? `Error ${e.code}: ${e.message}${e.retryable ? ' (submitting the same request again may succeed)' : ''}` : 'No reason was given.';
    return fail(`${head} failed. ${why}${describeRequest(task)}`);
  }
  if (task.status === 'canceled') return fail(`${head} was canceled; it has no images.${describeRequest(task)}`);

  const images = task.data ?? [];
  const content: Content[] = [];
  let index = 0;
  for (const image of images) {
    index += 1;
    const where = image.url ?? '(inline image, no URL)';
    const label = `Image ${index} of ${images.length}: ${where} (seed ${image.seed}, ${image.width}x${image.height}, ${image.output_format})`;
    if (image.error) {
      content.push(text(`${label}: ${image.error}`));
      continue;
    }
    if (includeImages) {
      try {
        const bytes = await opts.client.imageBytes(image, call);
        content.push({ type: 'image', data: Buffer.from(bytes).toString('base64'), mimeType: MIME[image.output_format] ?? 'image/png' });
      } catch (err) {
        content.push(text(`${label}: could not download it (${(err as Error).message}).`));
        continue;
      }
    }
    content.push(text(label));
  }
  const notes = [`${head} completed with ${plural(images.length, 'image')}.${describeRequest(task)}`];
  if (task.synthetic) notes.push('Note: this server runs the synthetic test-pattern engine, so these are labelled test patterns, not model output.');
  if (images.some((i) => i.url)) notes.push('To change one, call edit_image with its URL as "image".');
  content.push(text(notes.join('\n')));
  return { content };
}

/** One line per task, for list_tasks. */
export function taskLine(task: Task): string {
  const parts = [`${task.task_id}  ${task.status}${task.status === 'processing' ? ` (${describeProgress(task)})` : ''}  ${task.kind}`];
  if (task.request) parts.push(`${task.request.size}  ${JSON.stringify(task.request.prompt.length > 80 ? `${task.request.prompt.slice(0, 77)}...` : task.request.prompt)}`);
  const created = isoOf(task.created_at);
  if (created) parts.push(`created ${created}`);
  if (task.error) parts.push(`error ${task.error.code}`);
  const urls = (task.data ?? []).map((d) => d.url).filter(Boolean);
  const lines = [`- ${parts.join('  ')}`];
  for (const url of urls) lines.push(`    ${url}`);
  return lines.join('\n');
}
