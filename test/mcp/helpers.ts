/** MCP test helpers: the official SDK client over stdio (`zimage mcp`) and over Streamable HTTP (/mcp). */
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { CLI } from '../helpers/server.js';

export interface McpConnection {
  client: Client;
  /** Transport and parse errors the client saw (a stray line on the server's stdout is one). */
  errors: Error[];
  /** The stdio server's stderr so far. */
  stderr: () => string;
  close(): Promise<void>;
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function watched(client: Client): Error[] {
  const errors: Error[] = [];
  client.onerror = (err) => errors.push(err);
  return errors;
}

/** `zimage mcp` as a subprocess, driven by the SDK's StdioClientTransport. */
export async function connectStdio(args: string[], env: Record<string, string> = {}): Promise<McpConnection> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...args], env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'zimage-test', version: '1.0.0' });
  const errors = watched(client);
  await client.connect(transport);
  return { client, errors, stderr: () => stderr, close: () => client.close() };
}

/** The server's /mcp, driven by the SDK's StreamableHTTPClientTransport. */
export async function connectHttp(baseUrl: string, headers: Record<string, string> = {}): Promise<McpConnection & { transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers } });
  const client = new Client({ name: 'zimage-test', version: '1.0.0' });
  const errors = watched(client);
  await client.connect(transport);
  return { client, transport, errors, stderr: () => '', close: () => client.close() };
}

/** Calls a tool, collecting its progress notifications. */
export async function call(client: Client, name: string, args: Record<string, unknown>, signal?: AbortSignal) {
  const progress: Progress[] = [];
  const result = await client.callTool({ name, arguments: args }, undefined, {
    onprogress: (p) => progress.push(p), signal, timeout: 60_000,
  }) as CallToolResult;
  return { result, progress };
}

export const textOf = (result: CallToolResult) =>
  result.content.filter((c) => c.type === 'text').map((c) => (c as { text: string }).text).join('\n');

export const imagesOf = (result: CallToolResult) =>
  result.content.filter((c) => c.type === 'image') as Array<{ type: 'image'; data: string; mimeType: string }>;

export const urlsOf = (result: CallToolResult) => [...textOf(result).matchAll(/https?:\/\/\S+\/outputs\/[\w.]+/g)].map((m) => m[0]);

export const taskIdOf = (result: CallToolResult) => /Task ([0-9a-f]{32})/.exec(textOf(result))?.[1];

/** Polls the server (as a plain HTTP client) until the task has the status. */
export async function untilStatus(base: string, id: string, status: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${base}/v1/images/tasks/${id}`, { headers });
    const body = await res.json() as { status: string };
    if (body.status === status) return body;
    if (Date.now() > deadline) throw new Error(`task ${id} is ${JSON.stringify(body)}, not ${status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The one task still processing on the server, once there is one. */
export async function processingTask(base: string, headers: Record<string, string> = {}): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`${base}/v1/images/tasks?status=processing`, { headers });
    const body = await res.json() as { data: Array<{ task_id: string }> };
    if (body.data.length) return body.data[0].task_id;
    if (Date.now() > deadline) throw new Error('no task is processing');
    await new Promise((r) => setTimeout(r, 25));
  }
}

