/**
 * `zimage generate` and `zimage edit`: check the output first, submit, follow, save. Both take
 * the same image options; edit adds its input image, --strength and --mask.
 */
import fs from 'node:fs/promises';
import type { GenerateParams } from '../../../client/index.js';
import type { OptionKey, Values } from '../args.js';
import type { Command } from '../command.js';
import type { Context } from '../context.js';
import { InputError } from '../exit.js';
import { followTask } from '../follow.js';
import { planOutput, prepareOutput, type OutputPlan } from '../output.js';
import { shellQuote } from '../present.js';

const IMAGE_OPTIONS = ['output', 'format', 'size', 'n', 'seed', 'steps', 'negative', 'guidance', 'quality', 'noWait'] as const satisfies readonly OptionKey[];

/** The request fields from the flags; absent flags stay absent, so the server's defaults apply. */
function paramsOf(values: Values, plan: OutputPlan): Omit<GenerateParams, 'prompt'> {
  const params: Record<string, unknown> = {
    n: values.n, size: values.size, seed: values.seed, num_inference_steps: values.steps, negative_prompt: values.negative,
    guidance_scale: values.guidance, output_compression: values.quality, output_format: plan.format,
  };
  for (const key of Object.keys(params)) if (params[key] === undefined) delete params[key];
  return params;
}

/** `zimage wait <id>` with the same -o, for the Ctrl-C message. */
function resumeCommand(id: string, values: Values): string {
  return `zimage wait ${id}${values.output ? ` -o ${shellQuote(values.output)}` : ''}`;
}

async function submitted(ctx: Context, id: string, values: Values, plan: OutputPlan): Promise<number> {
  if (values.noWait) {
    ctx.info(`Submitted task ${id}; save its images with: ${resumeCommand(id, values)}`);
    ctx.out(id);
    if (ctx.json) ctx.printJson({ task_id: id, status: 'processing' });
    return 0;
  }
  ctx.info(`Submitted task ${id}`);
  return followTask(ctx, id, { plan, resume: resumeCommand(id, values) });
}

async function readInput(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (err) {
    throw new InputError(`cannot read the ${what} "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export const generate: Command = {
  name: 'generate',
  summary: 'Generate images from a prompt and save them',
  description: 'Queues the generation, shows its progress (queue position, steps, ETA) and writes the images. '
    + 'The written paths are printed on stdout, one per line.',
  args: [{ name: 'prompt', doc: 'what to draw, quoted as one argument' }],
  options: IMAGE_OPTIONS,
  examples: [
    'zimage generate "a red fox in fresh snow, morning light" -o fox.png',
    'zimage generate "isometric city block" --size 1280x720 --n 4 --seed 42 -o city.webp',
    'zimage generate "a lighthouse" --format jpeg --quality 90          # writes zimage-<id>.jpg',
    'ZIMAGE_URL=http://gpu-box:8003 zimage generate "a cat" --json | jq -r .files[0]',
  ],
  async run(ctx, { args, values }) {
    const plan = planOutput('generate', values.output, values.format);
    await prepareOutput(plan);
    const { task_id } = await ctx.client.generate({ prompt: args.prompt, ...paramsOf(values, plan) });
    return submitted(ctx, task_id, values, plan);
  },
};

export const edit: Command = {
  name: 'edit',
  summary: 'Edit an image as a prompt says (optionally only where a mask is white)',
  description: 'Uploads the image (and mask), queues the edit, shows its progress and writes the results. '
    + 'Without --size the result keeps the input\'s aspect ratio at about 1 megapixel.',
  args: [{ name: 'image', doc: 'the image file to edit (png, jpeg or webp)' }, { name: 'prompt', doc: 'how to change it, quoted as one argument' }],
  options: [...IMAGE_OPTIONS, 'strength', 'mask'],
  examples: [
    'zimage edit cat.png "make the cat wear a tiny hat" -o hat.png',
    'zimage edit room.jpg "a red sofa" --mask sofa-mask.png --strength 0.8 -o room2.jpg',
  ],
  async run(ctx, { args, values }) {
    const plan = planOutput('edit', values.output, values.format);
    const image = await readInput(args.image, 'image');
    const mask = values.mask !== undefined ? await readInput(values.mask, 'mask') : undefined;
    await prepareOutput(plan);
    const { task_id } = await ctx.client.edit({
      image, ...(mask ? { mask } : {}), prompt: args.prompt, ...paramsOf(values, plan),
      ...(values.strength !== undefined ? { strength: values.strength } : {}),
    });
    return submitted(ctx, task_id, values, plan);
  },
};
