/** `zimage cancel <id>` and `zimage delete <id>`. */
import type { Deleted, Task } from '../../../client/index.js';
import type { Command } from '../command.js';
import type { Context } from '../context.js';
import { EXIT } from '../exit.js';

/** How long cancel waits for a running task to stop (the server itself waits ~2 s first). */
const STOP_WAIT_MS = 15_000;

/** A running task stops within one denoising step: wait for that, so "canceled" means canceled. */
async function untilStopped(ctx: Context, task: Task): Promise<Task> {
  if (task.status !== 'processing') return task;
  ctx.info(`Task ${task.task_id} is stopping (it stops within one step)...`);
  return ctx.client.wait(task.task_id, { timeoutMs: STOP_WAIT_MS });
}

function reportCanceled(ctx: Context, task: Task): number {
  if (ctx.json) ctx.printJson(task);
  if (task.status === 'canceled') {
    ctx.info(`Canceled task ${task.task_id}.`);
    return EXIT.ok;
  }
  if (task.status === 'processing') {
    ctx.warn(`zimage: task ${task.task_id} has not stopped yet; check with: zimage show ${task.task_id}`);
    return EXIT.taskFailed;
  }
  ctx.warn(`zimage: task ${task.task_id} ${task.status} before the cancel took effect`);
  return EXIT.taskFailed;
}

export const cancel: Command = {
  name: 'cancel',
  summary: 'Cancel a queued or running task',
  description: 'A queued task is canceled at once, a running one within one denoising step (this waits for it). '
    + 'A task that already finished is refused (exit 2).',
  args: [{ name: 'id', doc: 'the task id' }],
  options: [],
  examples: ['zimage cancel 3d6b1d6d03ed6ee50c6777b9efa64077'],
  async run(ctx, { args }) {
    return reportCanceled(ctx, await untilStopped(ctx, await ctx.client.cancel(args.id)));
  },
};

const isDeleted = (answer: Deleted | Task): answer is Deleted => (answer as Deleted).object === 'task.deleted';

export const del: Command = {
  name: 'delete',
  summary: 'Delete a finished task and its images from the server',
  description: 'Deletes a completed, failed or canceled task with its images and uploads; afterwards it is unknown (404). '
    + 'The server never deletes work in progress: a queued or running task is canceled instead (exit 1); '
    + 'run delete again to delete it.',
  args: [{ name: 'id', doc: 'the task id' }],
  options: [],
  examples: ['zimage delete 3d6b1d6d03ed6ee50c6777b9efa64077', 'zimage tasks --status failed --json | jq -r .data[].task_id | xargs -n1 zimage delete'],
  async run(ctx, { args }) {
    const answer = await ctx.client.delete(args.id);
    if (isDeleted(answer)) {
      if (ctx.json) ctx.printJson(answer);
      ctx.info(`Deleted task ${answer.task_id} and its images.`);
      return EXIT.ok;
    }
    const task = await untilStopped(ctx, answer);
    if (ctx.json) ctx.printJson(task);
    ctx.warn(`zimage: task ${task.task_id} was still processing, so it was ${task.status === 'canceled' ? 'canceled' : 'asked to stop'} `
      + `instead of deleted (the server never deletes work in progress); run "zimage delete ${task.task_id}" again to delete it.`);
    return EXIT.taskFailed;
  },
};
