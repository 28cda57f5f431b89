/** What every MCP tool handler works with: the tools' options, the connection, the SDK's per-call extra. */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { ZImageClient } from '../client/index.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

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

export interface Connection {
  /** Set once the transport is gone: an abort then means "nobody is listening", not "cancel the task". */
  closed: boolean;
}
