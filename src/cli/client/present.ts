/** Tasks and server state as people read them (`show`, `tasks`, `health`); --json prints the raw answers instead. */
import type { Health, Task } from '../../client/index.js';
import { describe, formatDuration } from './progress.js';

/** A word safe to paste into a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[\w./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Unix seconds as local "YYYY-MM-DD HH:MM:SS". */
export function localTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(1, width - 1))}…`;
}

/** The status column: what a glance needs (position, step, error code). */
export function statusText(task: Task, withEta = true): string {
  if (task.status === 'processing') {
    const eta = withEta && task.stage === 'running' && task.eta_seconds ? `, ETA ${formatDuration(task.eta_seconds)}` : '';
    return `${describe(task)}${eta}`;
  }
  if (task.status === 'failed' && task.error) return `failed: ${task.error.code}`;
  return task.status;
}

export const TASK_HEADER = ['TASK ID'.padEnd(32), 'STATUS'.padEnd(24), 'KIND'.padEnd(8), 'CREATED'.padEnd(19), 'PROMPT'].join('  ');

export function taskRow(task: Task, promptWidth = 50): string {
  return [
    task.task_id.padEnd(32), truncate(statusText(task, false), 24).padEnd(24), task.kind.padEnd(8), localTime(task.created_at).padEnd(19),
    truncate(task.request?.prompt ?? '(expired)', promptWidth),
  ].join('  ');
}

/** `zimage show`: one "field  value" line each, only the fields the task has. */
export function taskLines(task: Task): string[] {
  const lines: Array<[string, string | undefined]> = [];
  const r = task.request;
  lines.push(['task', task.task_id], ['status', statusText(task)], ['kind', task.kind]);
  if (task.status === 'processing' && task.stage === 'running' && task.progress !== undefined) {
    lines.push(['progress', `${Math.round(task.progress * 100)}%`]);
  }
  if (r) {
    lines.push(['prompt', r.prompt]);
    if (r.negative_prompt) lines.push(['negative', r.negative_prompt]);
    const settings = [r.size, `n ${r.n}`, `seed ${r.seed}`, r.num_inference_steps !== undefined ? `${r.num_inference_steps} steps` : undefined,
      r.guidance_scale !== undefined ? `guidance ${r.guidance_scale}` : undefined, r.strength !== undefined ? `strength ${r.strength}` : undefined,
      r.output_format + (r.output_compression !== undefined ? ` quality ${r.output_compression}` : '')];
    lines.push(['settings', settings.filter(Boolean).join(', ')]);
  }
  lines.push(['created', localTime(task.created_at)]);
  if (task.finished_at) lines.push(['finished', localTime(task.finished_at)]);
  if (task.attempts !== undefined && task.attempts > 1) lines.push(['attempts', String(task.attempts)]);
  if (task.error) lines.push(['error', `${task.error.code}: ${task.error.message}${task.error.retryable ? ' (retryable)' : ''}`]);
  for (const [i, image] of (task.data ?? []).entries()) {
    lines.push([`image ${i + 1}`, `${image.url ?? (image.b64_json ? '(base64 in the task)' : image.error ?? '(none)')}  seed ${image.seed}, ${image.width}x${image.height} ${image.output_format}`]);
  }
  if (task.engine) lines.push(['engine', `${task.engine}${task.synthetic ? ' (synthetic test patterns, not model output)' : ''}`]);
  if (task.webhook) lines.push(['webhook', `${task.webhook.url}: ${task.webhook.status}`]);
  return lines.filter(([, v]) => v !== undefined).map(([k, v]) => `${k.padEnd(10)}${v}`);
}

export function healthLines(health: Health, url: string): string[] {
  const e = health.engine;
  const engine = [e.name ?? 'none', e.synthetic ? '(synthetic test patterns)' : undefined, e.state, e.model, e.device].filter(Boolean).join(' ');
  const lines = [
    `server    ${url}: ${health.ready ? 'ready' : 'not ready'}`,
    `engine    ${engine}${e.message ? `: ${e.message}` : ''}`,
    `queue     ${health.queue.backend}: ${health.queue.queued} queued, ${health.queue.running} running`,
    `workers   ${health.workers.length}`,
  ];
  for (const w of health.workers) {
    lines.push(`  ${w.id}  ${w.host}  ${w.engine}${w.device ? ` on ${w.device}` : ''}  ${w.state}${w.current_task ? ` (${w.current_task})` : ''}`);
  }
  return lines;
}
