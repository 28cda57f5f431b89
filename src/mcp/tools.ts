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
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { EditInput, GenerateParams } from '../client/index.js';
import { OPTIONS } from '../config.js';
import { resolveImage } from './imageInput.js';
import { packageVersion } from '../version.js';
import type { Connection, Extra, McpToolOptions } from './context.js';
import { follow, submitted } from './progress.js';
import { plural, taskLine, taskResult, text, toolError } from './results.js';
import { editArgs, generateArgs, TASK_ID } from './schemas.js';

export type { McpToolOptions } from './context.js';
export { describeProgress, toolError } from './results.js';

/** generate_image / edit_image wait this long for the result by default (below the 60 s request timeout of common MCP clients). */
export const DEFAULT_WAIT_SECONDS = Number(OPTIONS.mcpWaitSeconds.default);
const LIST_LIMIT_MAX = 100;

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
