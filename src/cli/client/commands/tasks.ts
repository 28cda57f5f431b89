/** `zimage tasks` (the list, newest first) and `zimage show <id>` (one task). */
import type { Task } from '../../../client/index.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { TASK_HEADER, taskLines, taskRow } from '../present.js';

/** The server's largest page. */
const PAGE_MAX = 100;

export const tasks: Command = {
  name: 'tasks',
  summary: 'List tasks, newest first',
  description: 'One line per task: id, status (queue position or step while processing), kind, creation time and prompt. '
    + 'With an API key, only the tasks of that key.',
  args: [],
  options: ['status', 'limit'],
  examples: ['zimage tasks', 'zimage tasks --status processing', 'zimage tasks --status failed,canceled --limit 100 --json'],
  async run(ctx, { values }) {
    const limit = values.limit ?? 20;
    if (limit < 1) throw new UsageError(`--limit must be 1 or more, got ${limit}`, 'tasks');
    const found: Task[] = [];
    let cursor: string | undefined;
    let hasMore = false;
    // Page through until the limit (the server's own check refuses a bad --limit or --status).
    do {
      const page = await ctx.client.list({ status: values.status, limit: Math.min(PAGE_MAX, limit - found.length), cursor });
      found.push(...page.data);
      cursor = page.next_cursor ?? undefined;
      hasMore = page.has_more;
    } while (cursor && found.length < limit);
    if (ctx.json) {
      ctx.printJson({ object: 'list', data: found, has_more: hasMore });
      return 0;
    }
    if (found.length === 0) {
      ctx.info(values.status ? `no ${values.status} tasks` : 'no tasks yet');
      return 0;
    }
    ctx.out(TASK_HEADER);
    for (const task of found) ctx.out(taskRow(task));
    if (hasMore) ctx.info(`(more: --limit ${Math.max(limit * 2, limit + 20)})`);
    return 0;
  },
};

export const show: Command = {
  name: 'show',
  summary: 'Show a task: status, progress, settings, images or error',
  args: [{ name: 'id', doc: 'the task id' }],
  options: [],
  examples: ['zimage show 3d6b1d6d03ed6ee50c6777b9efa64077', 'zimage show 3d6b1d6d03ed6ee50c6777b9efa64077 --json | jq .status'],
  async run(ctx, { args }) {
    const task = await ctx.client.get(args.id);
    if (ctx.json) ctx.printJson(task);
    else for (const line of taskLines(task)) ctx.out(line);
    return 0;
  },
};
