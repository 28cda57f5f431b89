/**
 * Where result images go and in which format. Everything that can be refused is decided before
 * the task is submitted (a contradictory name, an uncreatable directory), so a typo never
 * costs a GPU run; the files are written only once the task has completed.
 *
 * Naming: `-o out.png` writes out.png, or out-1.png, out-2.png, ... for several images. An
 * existing directory (or a path ending in "/") gets the default names: zimage-<first 8 of the
 * task id>.<ext>, or zimage-<id>-<i>.<ext>. Existing files are overwritten, as curl -o does.
 */
import fs from 'node:fs/promises';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Task, ZImageClient } from '../../client/index.js';
import { FORMATS, UsageError, type ImageFormat } from './args.js';
import { InputError } from './exit.js';

const EXTENSIONS: Record<string, ImageFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };
const EXTENSION_OF: Record<ImageFormat, string> = { png: '.png', jpeg: '.jpg', webp: '.webp' };

export interface OutputPlan {
  /** The format to ask for (undefined: the server's default, png). */
  format?: ImageFormat;
  /** A file name template (`out.png`), or undefined for default names. */
  file?: string;
  /** The directory of default names (the cwd unless -o named a directory). */
  dir: string;
}

/** What `-o`'s extension says: a format, undefined for no extension, null for one we cannot write. */
export function formatOfName(file: string): ImageFormat | undefined | null {
  const ext = path.extname(file).toLowerCase();
  if (!ext) return undefined;
  return EXTENSIONS[ext] ?? null;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Checks -o against --format (or, for `wait`, the task's own format) and settles both. */
export function planOutput(command: string, output: string | undefined, format: ImageFormat | undefined): OutputPlan {
  if (output === undefined) return { format, dir: '.' };
  if (output === '' ) throw new UsageError('--output needs a file name', command);
  if (output.endsWith('/') || output.endsWith(path.sep) || isDirectory(output)) return { format, dir: output };
  const named = formatOfName(output);
  if (named === null) {
    throw new UsageError(
      `cannot write "${path.extname(output)}" files: zimage writes ${FORMATS.join(', ')}; name the output .png, .jpg or .webp`, command);
  }
  if (named && format && named !== format) {
    throw new UsageError(
      `--format ${format} contradicts the output name "${output}" (a ${named} name); change one of them, e.g. -o ${replaceExt(output, format)}`, command);
  }
  return { format: format ?? named, file: output, dir: path.dirname(output) };
}

/** `wait` cannot choose the format (the task did): an -o name must agree with it. */
export function checkTaskFormat(command: string, plan: OutputPlan, format: ImageFormat | undefined): void {
  if (!plan.file || !format || !plan.format || plan.format === format) return;
  throw new UsageError(
    `task makes ${format} images but the output name "${plan.file}" says ${plan.format}; use e.g. -o ${replaceExt(plan.file, format)}`, command);
}

function replaceExt(file: string, format: ImageFormat): string {
  const ext = path.extname(file);
  return `${ext ? file.slice(0, -ext.length) : file}${EXTENSION_OF[format]}`;
}

/** Creates the output directory now, so a bad path fails before the task is submitted. */
export async function prepareOutput(plan: OutputPlan): Promise<void> {
  try {
    await fs.mkdir(plan.dir, { recursive: true });
    await fs.access(plan.dir, fs.constants.W_OK);
  } catch (err) {
    throw new InputError(`cannot write to "${plan.dir}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The file of image `index` (0-based) of `count`, for this task. */
export function outputPath(plan: OutputPlan, taskId: string, index: number, count: number, format: ImageFormat): string {
  const suffix = count > 1 ? `-${index + 1}` : '';
  if (!plan.file) return path.join(plan.dir, `zimage-${taskId.slice(0, 8)}${suffix}${EXTENSION_OF[format]}`);
  const ext = path.extname(plan.file);
  const stem = ext ? plan.file.slice(0, -ext.length) : plan.file;
  return `${stem}${suffix}${ext}`;
}

/**
 * Downloads and writes a completed task's images; resolves with the paths written. Each file is
 * written beside its final name and renamed into place, so a broken download never leaves a
 * truncated image under the name a script is waiting for.
 */
export async function saveImages(client: ZImageClient, task: Task, plan: OutputPlan, warn: (line: string) => void): Promise<string[]> {
  const images = task.data ?? [];
  const files: string[] = [];
  for (const [i, image] of images.entries()) {
    if (!image.url && !image.b64_json) {
      warn(`image ${i + 1} of task ${task.task_id} was not made${image.error ? `: ${image.error}` : ''}`);
      continue;
    }
    const file = outputPath(plan, task.task_id, i, images.length, image.output_format as ImageFormat);
    const bytes = await client.imageBytes(image);
    const partial = `${file}.${process.pid}.partial`;
    try {
      await fs.writeFile(partial, bytes);
      await fs.rename(partial, file);
    } catch (err) {
      await fs.rm(partial, { force: true });
      throw new InputError(`cannot write "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    files.push(file);
  }
  return files;
}
