/** Wording for task states, times and prompts. */
import type { Task } from '../../client/types.js';

/** "about 40 s left", "about 3 min left"; empty when the server cannot tell yet. */
export function etaText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 1) return 'less than a second left';
  if (seconds < 90) return `about ${Math.ceil(seconds)} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

/** What a processing task is doing, in words (also the progress bar's aria-valuetext). */
export function stateText(task: Task): string {
  if (task.cancel_requested) return 'Stopping…';
  if (task.stage === 'queued') {
    const pos = task.queue_position;
    return pos === null || pos === undefined ? 'Waiting in the queue' : `Queued: position ${pos + 1} (${pos === 0 ? 'next' : `${pos} ahead`})`;
  }
  if (task.total_steps) return `Generating: step ${task.step ?? 0} of ${task.total_steps}`;
  return 'Generating';
}

export const percentOf = (task: Task) => Math.round((task.status === 'completed' ? 1 : task.progress ?? 0) * 100);

/** A prompt short enough for a heading. */
export function shortPrompt(prompt: string | undefined, max = 90): string {
  const text = (prompt ?? '').replace(/\s+/g, ' ').trim() || '(no prompt)';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
