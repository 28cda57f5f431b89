/**
 * The MCP tools of Z-Image Server, over the typed API client: generate_image, edit_image,
 * get_task, cancel_task, list_tasks. The same definitions serve `zimage mcp` (stdio, a
 * client of a remote server) and the server's own /mcp (Streamable HTTP, a client of itself
 * in-process), so validation, limits and visibility are always the public API's.
 *
 * Argument types are checked by the SDK (zod); their limits are documented in the JSON schema
 * from the server's own request schemas (src/tasks/params.ts) and enforced by the server, so
 * a bad value comes back with the server's code and message (e.g. invalid_size).
 */
import type { TSchema } from '@sinclair/typebox';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import {
  AbortedError, ApiResponseError, ServerUnreachableError, type EditInput, type GenerateParams, type Task, type ZImageClient,
} from '../client/index.js';
import { OPTIONS } from '../config.js';
import { EditRequest, GenerateRequest, SIZE_MAX, SIZE_MIN } from '../tasks/params.js';
import { ImageInputError, resolveImage } from './imageInput.js';
import { packageVersion } from '../version.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Content = CallToolResult['content'][number];

/** generate_image / edit_image wait this long for the result by default (below the 60 s request timeout of common MCP clients). */
export const DEFAULT_WAIT_SECONDS = Number(OPTIONS.mcpWaitSeconds.default);
/** A queued task sends no events while nothing moves: repeat the last progress this often (clients that reset their timeout on progress keep waiting). */
const PROGRESS_HEARTBEAT_MS = 10_000;
const LIST_LIMIT_MAX = 100;

export interface McpToolOptions {
  /** The API client every tool goes through (its key decides which tasks the caller sees). */
  client: ZImageClient;
  /** Longest wait of generate_image / edit_image / get_task, in seconds; past it they answer the task id. 0: answer at once. */
  waitSeconds: number;
  /** Whether edit_image may read local file paths (stdio only). */
  localFiles: boolean;
  /** Aborted when this MCP server stops: waits end with the task id, and no task is canceled. */
  stopping?: AbortSignal;
  /** Added to an auth error: where this MCP server's API key is set. */
  authHint?: string;
  /** Called when a tool call ends after its request was canceled: no answer will be sent for it. */
  onAbandoned?: () => void;
}


// ---------------------------------------------------------------------------------------------
// Argument schemas: types for zod, limits from the server's TypeBox schemas.

const LIMIT_KEYS = ['minimum', 'maximum', 'minLength', 'maxLength', 'pattern'] as const;
const limitsOf = (schema: TSchema): Record<string, unknown> =>
  Object.fromEntries(LIMIT_KEYS.filter((k) => schema[k] !== undefined).map((k) => [k, schema[k]]));
const G = GenerateRequest.properties;
const E = EditRequest.properties;
const range = (schema: TSchema) => `${schema.minimum} to ${schema.maximum}`;
const literalsOf = (schema: TSchema) => (schema.anyOf as TSchema[]).map((s) => s.const as string);

const str = (schema: TSchema, description: string) => z.string().meta({ ...limitsOf(schema), description });
const int = (schema: TSchema, description: string) => z.number().int().meta({ ...limitsOf(schema), description });
const num = (schema: TSchema, description: string) => z.number().meta({ ...limitsOf(schema), description });
const formats = literalsOf(G.output_format) as [string, ...string[]];

const prompt = (what: string) => str(G.prompt, `${what} At most ${G.prompt.maxLength} characters.`);
const imageParams = {
  negative_prompt: str(G.negative_prompt, 'Optional: what the image must not show. Ignored by Turbo models (the default).').optional(),
  n: int(G.n, `How many images to make, ${range(G.n)} (default 1). Image i uses seed + i.`).optional(),
  seed: int(G.seed, `Optional seed, ${range(G.seed)}: the same prompt, size, steps and seed give the same image. Omit for a random one (the result says which was used).`).optional(),
  num_inference_steps: int(G.num_inference_steps, `Optional denoising steps, ${range(G.num_inference_steps)}. Omit for the model's default (8 for Turbo); more is slower, rarely better.`).optional(),
  output_format: z.enum(formats).meta({ description: `Image file format: ${formats.join(', ')} (default png).` }).optional(),
};
const SIZE_DOC = `Each side a multiple of 16 from ${SIZE_MIN} to ${SIZE_MAX}: e.g. "1024x1024" (square), "1344x768" (landscape), "768x1344" (portrait).`;

const generateArgs = {
  prompt: prompt('What the image shows, in detail: subject, setting, style, lighting, composition; put any text to render in quotes. English or Chinese.'),
  size: str(G.size, `"WIDTHxHEIGHT" (default ${G.size.default}). ${SIZE_DOC}`).optional(),
  ...imageParams,
};

/** The forms an image argument takes; local paths only where the server runs on the caller's machine (stdio). */
const imageForms = (localFiles: boolean) => 'The URL of an image this server produced (a result URL from generate_image, edit_image or get_task; '
  + `other URLs are never fetched), ${localFiles ? 'an absolute local file path, ' : ''}or the file's bytes as base64 or a data:image/...;base64, URL. PNG, JPEG or WebP.`;
const editArgs = (localFiles: boolean) => ({
  image: z.string().meta({ description: `The picture to start from. ${imageForms(localFiles)}` }),
  prompt: prompt('The WHOLE picture you want as the result, described as if from scratch (e.g. "a red vintage car on a beach at sunset"), '
    + 'not an instruction such as "make the car red": this is image-to-image, there is no instruction-following edit model.'),
  strength: num(E.strength, `How far the result may move from the input, ${range(E.strength)}: about 0.3 keeps the composition and most detail, `
    + '0.6 (the default) restyles, 0.9 and above keeps little more than the layout. With a mask the default is 1 (the masked area is painted anew).').optional(),
  mask: z.string().meta({
    description: 'Optional: the area to change, as white pixels of a black-and-white image or as transparent pixels (OpenAI\'s convention); '
      + 'everything else stays. The same forms as "image"; it is scaled to the image. Without a mask the whole image may change.',
  }).optional(),
  size: str(E.size, `Optional "WIDTHxHEIGHT" of the result. Default: the input's aspect ratio at about one megapixel. ${SIZE_DOC}`).optional(),
  ...imageParams,
});

const TASK_ID = z.string().min(1).meta({ description: 'The task id (32 hex characters) that generate_image, edit_image or list_tasks gave.' });

// ---------------------------------------------------------------------------------------------
// Results and errors as the model reads them.

const MIME: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };
const text = (t: string): Content => ({ type: 'text', text: t });
const fail = (message: string): CallToolResult => ({ isError: true, content: [text(message)] });

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

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
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
async function taskResult(task: Task, opts: McpToolOptions, includeImages: boolean, call: { signal?: AbortSignal }, waited?: number): Promise<CallToolResult> {
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
function taskLine(task: Task): string {
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

// ---------------------------------------------------------------------------------------------
// Waiting with progress.

interface Connection {
  /** Set once the transport is gone: an abort then means "nobody is listening", not "cancel the task". */
  closed: boolean;
}

/** MCP progress notifications from task updates: strictly increasing percentages (0-100), as the spec asks. */
function progressReporter(extra: Extra) {
  const token = extra._meta?.progressToken;
  let last = -1;
  let lastMessage = '';
  let lastSent = 0;
  const send = (progress: number, message: string) => {
    last = progress;
    lastMessage = message;
    lastSent = Date.now();
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token!, progress, total: 100, message } })
      .catch(() => undefined);
  };
  const heartbeat = token === undefined ? undefined : setInterval(() => {
    if (Date.now() - lastSent >= PROGRESS_HEARTBEAT_MS - 50 && last < 100) send(Math.round((last + 0.001) * 1000) / 1000, lastMessage);
  }, PROGRESS_HEARTBEAT_MS);
  heartbeat?.unref();
  return {
    update(task: Task) {
      if (token === undefined) return;
      const message = describeProgress(task);
      const percent = task.status === 'completed' ? 100 : Math.min(99.9, Math.round((task.progress ?? 0) * 1000) / 10);
      if (percent > last) send(percent, message);
      else if (message !== lastMessage && last < 100) send(Math.round((last + 0.001) * 1000) / 1000, message);
    },
    stop() {
      if (heartbeat) clearInterval(heartbeat);
    },
  };
}

/**
 * Waits for the task (up to the limit), reporting progress, then answers its result. A cancel
 * of the MCP request that made the task (`owned`) cancels the task on the server; a closed
 * connection or a stopping server only ends the wait.
 */
async function follow(taskId: string, seconds: number, extra: Extra, conn: Connection, opts: McpToolOptions, owned = true): Promise<CallToolResult> {
  const progress = progressReporter(extra);
  const signals = [extra.signal, opts.stopping].filter((s): s is AbortSignal => s !== undefined);
  const signal = AbortSignal.any(signals);
  try {
    const task = seconds > 0
      ? await opts.client.wait(taskId, { timeoutMs: seconds * 1000, signal, onUpdate: (t) => progress.update(t) })
      : await opts.client.get(taskId);
    progress.update(task);
    return await taskResult(task, opts, true, { signal: extra.signal }, seconds);
  } catch (err) {
    if (!(err instanceof AbortedError)) throw err;
    if (conn.closed) return fail(`Stopped waiting for task ${taskId}: the connection closed.`);
    if (extra.signal.aborted) {
      if (!owned) return fail(`Stopped waiting for task ${taskId}: the request was canceled (the task goes on).`);
      // The caller canceled the tool call that made the task: the task goes too (nobody would read its images).
      await opts.client.cancel(taskId).catch(() => undefined);
      return fail(`Task ${taskId} was canceled with the request.`);
    }
    // This MCP server is stopping: the task stays, and whoever asks later can fetch it.
    return { content: [text(`Stopped waiting for task ${taskId}: this MCP server is shutting down. The task is kept; `
      + `call get_task with task_id "${taskId}" later to get its images.`)] };
  } finally {
    progress.stop();
  }
}

/** Submits without the request's signal (a task created as the cancel arrives must not be lost), then cancels it if needed. */
async function submitted(taskId: string, extra: Extra, conn: Connection, opts: McpToolOptions, seconds: number): Promise<CallToolResult> {
  if (extra.signal.aborted && !conn.closed) {
    await opts.client.cancel(taskId).catch(() => undefined);
    return fail(`Task ${taskId} was canceled with the request.`);
  }
  return follow(taskId, seconds, extra, conn, opts);
}

/** Runs a handler, turning every failure into a tool error (never a protocol error or a crash). */
const guarded = <A>(opts: McpToolOptions, fn: (args: A, extra: Extra) => Promise<CallToolResult>) =>
  async (args: A, extra: Extra): Promise<CallToolResult> => {
    try {
      return await fn(args, extra);
    } catch (err) {
      return toolError(err, opts);
    } finally {
      if (extra.signal.aborted) opts.onAbandoned?.();
    }
  };

const dropUndefined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

// ---------------------------------------------------------------------------------------------

function registerTools(server: McpServer, opts: McpToolOptions, conn: Connection): void {
  const { client } = opts;
  const wait = Math.max(0, opts.waitSeconds);
  const waitDoc = wait > 0
    ? `It waits up to ${wait} s for the result, sending progress (queue position, steps); if the task takes longer it answers the task id instead: then call get_task with it.`
    : 'It answers the task id at once: call get_task with it to wait for the images.';

  server.registerTool('generate_image', {
    title: 'Generate an image',
    description: 'Create images from a text description with the Z-Image model on a Z-Image Server. '
      + `${waitDoc} The result has each image (PNG, JPEG or WebP) with its URL, seed and size; the URL can be passed to edit_image. `
      + 'Long, specific prompts work best.',
    inputSchema: generateArgs,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, guarded(opts, async (args, extra) => {
    const { task_id } = await client.generate(dropUndefined(args) as GenerateParams);
    return submitted(task_id, extra, conn, opts, wait);
  }));

  server.registerTool('edit_image', {
    title: 'Make an image from another (image-to-image)',
    description: 'Create a new image from an existing one with Z-Image (image-to-image, optionally masked). '
      + 'There is no instruction-following edit model: "prompt" must describe the whole desired picture, not the change to make. '
      + '"strength" sets how far the result may depart from the input; a mask limits the change to its white area. '
      + `The image can be a result URL of this server, ${opts.localFiles ? 'a local file path, ' : ''}base64 or a data: URL. ${waitDoc}`,
    inputSchema: editArgs(opts.localFiles),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, guarded(opts, async (args, extra) => {
    const { image, mask, ...fields } = args;
    const sources = { download: (p: string, o?: { signal?: AbortSignal }) => client.download(p, o), localFiles: opts.localFiles };
    const imageBytes = await resolveImage(image, 'image', sources, { signal: extra.signal });
    const maskBytes = mask !== undefined ? await resolveImage(mask, 'mask', sources, { signal: extra.signal }) : undefined;
    const input: EditInput = { ...(dropUndefined(fields) as Omit<EditInput, 'image'>), image: imageBytes, mask: maskBytes };
    const { task_id } = await client.edit(input);
    return submitted(task_id, extra, conn, opts, wait);
  }));

  server.registerTool('get_task', {
    title: 'Get a task',
    description: 'Look up an image task by id: its status and progress, and once completed its images (with URLs, seeds and sizes). '
      + 'Use it when generate_image or edit_image answered a task id instead of images.',
    inputSchema: {
      task_id: TASK_ID,
      wait_seconds: z.number().min(0).meta({
        maximum: wait,
        description: `Optional: if the task is still processing, wait up to this many seconds (at most ${wait}) for it to finish, with progress. Default 0: answer at once.`,
      }).optional(),
      include_images: z.boolean().meta({ description: 'Whether a completed task\'s images come back as images (default true); false answers only their URLs.' }).optional(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, guarded(opts, async ({ task_id, wait_seconds, include_images }, extra) => {
    const seconds = Math.min(wait, wait_seconds ?? 0);
    if (seconds > 0) {
      const task = await client.get(task_id, { signal: extra.signal });
      // Canceling this call only stops the wait: the task belongs to the call that made it.
      if (task.status === 'processing') return follow(task_id, seconds, extra, conn, opts, false);
      return taskResult(task, opts, include_images ?? true, { signal: extra.signal });
    }
    return taskResult(await client.get(task_id, { signal: extra.signal }), opts, include_images ?? true, { signal: extra.signal });
  }));

  server.registerTool('cancel_task', {
    title: 'Cancel a task',
    description: 'Cancel a queued or running image task by id. A queued task is canceled at once; a running one stops within a step. '
      + 'A task that already finished cannot be canceled.',
    inputSchema: { task_id: TASK_ID },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, guarded(opts, async ({ task_id }, extra) => {
    const task = await client.cancel(task_id, { signal: extra.signal });
    const state = task.status === 'canceled' ? 'is canceled' : task.cancel_requested ? 'is stopping (it ends within a step)' : `is ${task.status}`;
    return { content: [text(`Task ${task.task_id} ${state}.`)] };
  }));

  server.registerTool('list_tasks', {
    title: 'List tasks',
    description: 'List your image tasks, newest first: id, status, size, prompt, creation time and image URLs. '
      + 'Filter by status; when there are more, pass the returned cursor to get the next page.',
    inputSchema: {
      status: z.string().meta({
        description: 'Optional filter: processing, completed, failed or canceled (also the stages queued, running); several comma-separated, e.g. "failed,canceled".',
      }).optional(),
      limit: z.number().int().meta({ minimum: 1, maximum: LIST_LIMIT_MAX, description: `Tasks per page, 1 to ${LIST_LIMIT_MAX} (default 20).` }).optional(),
      cursor: z.string().meta({ description: 'The cursor a previous list_tasks answered, for the next page.' }).optional(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, guarded(opts, async ({ status, limit, cursor }, extra) => {
    const page = await client.list(dropUndefined({ status, limit, cursor }), { signal: extra.signal });
    if (page.data.length === 0) return { content: [text(cursor ? 'No more tasks.' : 'No tasks.')] };
    const lines = page.data.map(taskLine);
    if (page.has_more && page.next_cursor) lines.push(`More tasks: call list_tasks with cursor "${page.next_cursor}".`);
    return { content: [text(`${plural(page.data.length, 'task')}, newest first:\n${lines.join('\n')}`)] };
  }));
}

/** A new MCP server with the tools, not yet connected. */
function createServer(opts: McpToolOptions, conn: Connection): McpServer {
  const server = new McpServer(
    { name: 'zimage', title: 'Z-Image Server', version: packageVersion() },
    {
      capabilities: { tools: {} },
      instructions: 'Image generation and image-to-image with Z-Image. generate_image and edit_image wait for their result and '
        + 'return the images with URLs; if a task takes longer they return its id: call get_task with it. '
        + 'Pass a result URL to edit_image to rework an image.',
    },
  );
  registerTools(server, opts, conn);
  return server;
}

/**
 * Connects a new MCP server with the tools to a transport. The transport's close is noted
 * before the SDK aborts the calls in flight, so those end without canceling their tasks.
 */
export async function connectMcpServer(transport: Transport, opts: McpToolOptions): Promise<McpServer> {
  const conn: Connection = { closed: false };
  const onclose = transport.onclose;
  transport.onclose = () => {
    conn.closed = true;
    onclose?.();
  };
  const server = createServer(opts, conn);
  await server.connect(transport);
  return server;
}
