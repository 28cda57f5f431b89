/** Waiting for a task with progress. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AbortedError, type Task } from '../client/index.js';
import type { Connection, Extra, McpToolOptions } from './context.js';
import { describeProgress, fail, taskResult, text } from './results.js';

/** A queued task sends no events while nothing moves: repeat the last progress this often (clients that reset their timeout on progress keep waiting). */
const PROGRESS_HEARTBEAT_MS = 10_000;

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
export async function follow(taskId: string, seconds: number, extra: Extra, conn: Connection, opts: McpToolOptions, owned = true): Promise<CallToolResult> {
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
export async function submitted(taskId: string, extra: Extra, conn: Connection, opts: McpToolOptions, seconds: number): Promise<CallToolResult> {
  if (extra.signal.aborted && !conn.closed) {
    await opts.client.cancel(taskId).catch(() => undefined);
    return fail(`Task ${taskId} was canceled with the request.`);
  }
  return follow(taskId, seconds, extra, conn, opts);
}
