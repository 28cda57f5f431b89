/**
 * Following a submitted task to its end: progress while it runs, Ctrl-C handling, then the
 * images written (completed) or the server's error printed (failed, canceled). generate, edit
 * and wait all end here, so they report and exit alike.
 */
import path from 'node:path';
import { ApiResponseError, type Task } from '../../client/index.js';
import type { Context } from './context.js';
import { EXIT, failureOf } from './exit.js';
import { watchInterrupt, type Decision } from './interrupt.js';
import { saveImages, type OutputPlan } from './output.js';
import { createProgress, formatDuration } from './progress.js';

export interface FollowOptions {
  plan: OutputPlan;
  /** The command that picks the task up again after Ctrl-C (`zimage wait <id> -o out.png`). */
  resume: string;
}

export async function followTask(ctx: Context, taskId: string, opts: FollowOptions): Promise<number> {
  const started = Date.now();
  const tty = Boolean(ctx.stderr.isTTY);
  const progress = createProgress({ stream: ctx.stderr, tty, silent: ctx.quiet });
  const interrupt = watchInterrupt({
    taskId, ask: tty && Boolean(ctx.stdin.isTTY), input: ctx.stdin, output: ctx.stderr, onInterrupt: () => progress.stop(),
  });
  const abort = new AbortController();
  const waiting = ctx.client.wait(taskId, { signal: abort.signal, onUpdate: (task, event) => progress.update(task, event) });
  // After a Ctrl-C the wait is abandoned (aborted); its rejection is expected then.
  waiting.catch(() => undefined);
  let task: Task;
  try {
    const first = await Promise.race([waiting.then((t) => ({ task: t })), interrupt.started.then(() => undefined)]);
    if (!first) {
      // The wait goes on while the question is open; what the answer says decides.
      const decision = await interrupt.decision;
      abort.abort();
      return await interrupted(ctx, taskId, decision, opts.resume);
    }
    task = first.task;
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  return finished(ctx, task, opts.plan, (Date.now() - started) / 1000);
}

async function interrupted(ctx: Context, id: string, decision: Decision, resume: string): Promise<number> {
  if (decision === 'leave') {
    // Printed even with --quiet: without the id the running task is hard to find again.
    ctx.warn(`Task ${id} is still running on the server.\n  resume: ${resume}\n  cancel: zimage cancel ${id}`);
    if (ctx.json) ctx.printJson({ task_id: id, interrupted: true, canceled: false });
    return EXIT.interrupted;
  }
  try {
    const task = await ctx.client.cancel(id);
    ctx.warn(task.status === 'canceled'
      ? `Canceled task ${id}.`
      : `Asked task ${id} to stop; it stops within one step (check with: zimage show ${id}).`);
    if (ctx.json) ctx.printJson({ task_id: id, interrupted: true, canceled: true, task });
  } catch (err) {
    if (err instanceof ApiResponseError && err.status === 409) {
      ctx.warn(`Task ${id} finished before the cancel took effect; save its images with: ${resume}`);
    } else {
      ctx.warn(`zimage: could not cancel task ${id}: ${failureOf(err).message}\n  try again with: zimage cancel ${id}`);
    }
    if (ctx.json) ctx.printJson({ task_id: id, interrupted: true, canceled: false, error: failureOf(err).detail });
  }
  return EXIT.interrupted;
}

async function finished(ctx: Context, task: Task, plan: OutputPlan, seconds: number): Promise<number> {
  const id = task.task_id;
  if (task.status === 'completed') {
    const files = await saveImages(ctx.client, task, plan, ctx.warn);
    const seed = task.request?.seed ?? task.data?.[0]?.seed;
    ctx.info(`completed in ${formatDuration(seconds)}: ${files.length} image${files.length === 1 ? '' : 's'}${seed !== undefined ? `, seed ${seed}` : ''}`);
    if (task.synthetic) ctx.info(`note: ${task.notice ?? 'these images are synthetic test patterns, not model output'}`);
    for (const file of files) ctx.out(file);
    if (ctx.json) ctx.printJson({ task, files: files.map((f) => path.resolve(f)) });
    return EXIT.ok;
  }
  if (task.status === 'failed') {
    const e = task.error;
    const retry = e?.retryable ? ' (retryable: submitting it again may succeed)' : '';
    ctx.warn(`zimage: task ${id} failed: ${e ? `${e.code}: ${e.message}` : 'no reason given'}${retry}`);
  } else if (task.status === 'canceled') {
    ctx.warn(`zimage: task ${id} was canceled${task.error ? `: ${task.error.code}: ${task.error.message}` : ''}`);
  } else {
    ctx.warn(`zimage: task ${id} is still ${task.status}; follow it with: zimage wait ${id}`);
  }
  if (ctx.json) ctx.printJson({ task, files: [] });
  return EXIT.taskFailed;
}
