/** `zimage health` and `zimage models`: what the server is and whether it can work. */
import type { Command } from '../command.js';
import { EXIT } from '../exit.js';
import { healthLines } from '../present.js';

export const health: Command = {
  name: 'health',
  summary: 'Check the server: engine, queue, workers',
  description: 'Exits 0 when the server answers and its engine is ready, 1 when it answers but is not ready '
    + '(the model is still loading, or failed to load), 3 when it does not answer.',
  args: [],
  options: [],
  examples: ['zimage health', 'until zimage health >/dev/null 2>&1; do sleep 2; done   # wait until the model has loaded'],
  async run(ctx) {
    const answer = await ctx.client.health();
    if (ctx.json) ctx.printJson(answer);
    else for (const line of healthLines(answer, ctx.client.url)) ctx.out(line);
    return answer.ready ? EXIT.ok : EXIT.taskFailed;
  },
};

export const models: Command = {
  name: 'models',
  summary: 'List the models the server serves',
  args: [],
  options: [],
  examples: ['zimage models'],
  async run(ctx) {
    const answer = await ctx.client.models();
    if (ctx.json) ctx.printJson(answer);
    else for (const model of answer.data) ctx.out(model.id);
    return EXIT.ok;
  },
};
