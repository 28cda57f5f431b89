/** `zimage wait <id>`: follow a task submitted earlier (or left running after Ctrl-C) and save its images. */
import type { ImageFormat } from '../args.js';
import type { Command } from '../command.js';
import { followTask } from '../follow.js';
import { checkTaskFormat, planOutput, prepareOutput } from '../output.js';
import { shellQuote } from '../present.js';

export const wait: Command = {
  name: 'wait',
  summary: 'Wait for a task to finish and save its images',
  description: 'Shows the task\'s progress until it finishes, then writes its images as generate does. '
    + 'On a finished task it just saves the images. The format is the task\'s: an -o name must match it.',
  args: [{ name: 'id', doc: 'the task id (printed by generate, edit and tasks)' }],
  options: ['output'],
  examples: ['zimage wait 3d6b1d6d03ed6ee50c6777b9efa64077 -o fox.png', 'zimage generate "a fox" --no-wait | xargs zimage wait'],
  async run(ctx, { args, values }) {
    const plan = planOutput('wait', values.output, undefined);
    // Read the task first: an unknown id fails at once, and a mismatched -o before any wait.
    const task = await ctx.client.get(args.id);
    checkTaskFormat('wait', plan, task.request?.output_format as ImageFormat | undefined);
    await prepareOutput(plan);
    if (task.status === 'processing') ctx.info(`Waiting for task ${task.task_id}`);
    const resume = `zimage wait ${task.task_id}${values.output ? ` -o ${shellQuote(values.output)}` : ''}`;
    return followTask(ctx, task.task_id, { plan, resume });
  },
};
