/**
 * POST /mcp: the MCP tools over Streamable HTTP, served by the server itself. Stateless: each
 * POST gets its own MCP server and transport. The tools are a client of this server's public
 * API, called in-process (Fastify's inject) with the caller's own API key headers, so auth,
 * validation, limits and visibility (a caller sees its own tasks only) are exactly /v1's.
 *
 * Cancellation needs one thing across POSTs: the initialize answer carries a random
 * Mcp-Session-Id, which clients send back; a `notifications/cancelled` POST with it reaches
 * the tool call it names if that call runs on this node (nothing else is kept per session).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, isJSONRPCNotification, isJSONRPCRequest, type JSONRPCNotification } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ZImageClient } from '../client/index.js';
import { ApiError } from '../errors.js';
import { baseUrlOf, jsonEditBodyLimit, type AppDeps } from '../http/context.js';
import { errorBody, sendError } from '../http/errors.js';
import { connectMcpServer } from './tools.js';

/** Session ids this server hands out are UUIDs; anything long is not one of ours. */
const SESSION_RE = /^[\x21-\x7e]{1,128}$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const abortError = () => new DOMException('This operation was aborted', 'AbortError');

/** Web Headers from Node's outgoing headers (numbers and arrays included). */
function webHeaders(raw: Record<string, unknown>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
  }
  return headers;
}

/**
 * A fetch that answers this server's own URLs in-process through `app.inject`, streaming the
 * body (the task events stream included), with the caller's credentials added. Its only other
 * destination is a redirect the server itself answered (a presigned storage URL).
 */
export function inProcessFetch(app: FastifyInstance, baseUrl: string, credentials: Record<string, string>): typeof fetch {
  const base = new URL(baseUrl);
  const host = base.host;
  // ZIMAGE_PUBLIC_URL may carry a proxy's path prefix (https://example.com/zimage): routes have none.
  const prefix = base.pathname.replace(/\/+$/, '');
  const self = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const signal = init?.signal ?? undefined;
    const url = new URL(req.url);
    if (url.host !== host) throw new TypeError(`in-process fetch: refusing ${url.origin}, which is not this server`);
    if (prefix && (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))) url.pathname = url.pathname.slice(prefix.length) || '/';
    if (signal?.aborted) throw abortError();
    const payload = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    const headers: Record<string, string> = { ...Object.fromEntries(req.headers), ...credentials, host };
    const pending = app.inject({ method: req.method, url: `${url.pathname}${url.search}`, headers, payload, payloadAsStream: true });
    const res = await new Promise<Awaited<typeof pending>>((resolve, reject) => {
      const onAbort = () => reject(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      pending.then(resolve, reject).finally(() => signal?.removeEventListener('abort', onAbort));
    }).catch((err) => {
      // Answered after all (or failed): release the request on the server side.
      pending.then((late) => late.raw.res.destroy(), () => undefined);
      throw err;
    });
    const stream = res.stream();
    const release = () => {
      stream.destroy(abortError());
      res.raw.res.destroy(); // the route sees its client leave (an event stream stops)
    };
    if (signal) {
      if (signal.aborted) release();
      else signal.addEventListener('abort', release, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', release));
    }
    const status = res.statusCode;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && typeof location === 'string' && (req.method === 'GET' || req.method === 'HEAD')) {
      stream.resume();
      const target = new URL(location, url);
      // The server's own redirect: to itself, or to its storage (no credentials go there).
      return target.host === host ? self(target, { method: req.method, signal }) : fetch(target, { method: req.method, signal });
    }
    const empty = status === 204 || status === 304 || req.method === 'HEAD';
    if (empty) stream.resume();
    const body = empty ? null : (Readable.toWeb(stream) as unknown as NodeReadableStream<Uint8Array>);
    return new Response(body as unknown as BodyInit | null, { status, statusText: res.statusMessage, headers: webHeaders(res.headers) });
  };
  return self as typeof fetch;
}

/** The credential headers the caller presented, forwarded as they came (the auth hook picks the valid one). */
function credentialsOf(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['authorization', 'x-api-key']) {
    const value = request.headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

const isCancel = (m: unknown): m is JSONRPCNotification & { params: { requestId: string | number } } =>
  isJSONRPCNotification(m) && m.method === 'notifications/cancelled'
  && (typeof m.params?.requestId === 'string' || typeof m.params?.requestId === 'number');

export async function mcpRoutes(app: FastifyInstance, deps: AppDeps) {
  /** Tool calls in flight on this node, by session, caller and JSON-RPC id: where a cancel is delivered. */
  const inflight = new Map<string, StreamableHTTPServerTransport>();
  const keyOf = (session: string, owner: string | undefined, id: string | number) => `${session}\n${owner ?? ''}\n${JSON.stringify(id)}`;

  app.post('/mcp', { bodyLimit: jsonEditBodyLimit(deps.config), schema: { hide: true } }, async (request, reply) => {
    const body = request.body;
    const messages: unknown[] = Array.isArray(body) ? body : [body];
    const header = request.headers['mcp-session-id'];
    let session = typeof header === 'string' && SESSION_RE.test(header) ? header : undefined;
    if (session) {
      for (const m of messages) {
        if (isCancel(m)) inflight.get(keyOf(session, request.owner, m.params.requestId))?.onmessage?.(m);
      }
    } else if (messages.some((m) => isInitializeRequest(m))) {
      session = randomUUID();
    }

    const base = baseUrlOf(request, deps.config);
    const client = new ZImageClient({ url: base, fetch: inProcessFetch(app, base, credentialsOf(request)) });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    transport.onerror = (err) => request.log.debug({ err }, 'mcp transport error');
    const requests = messages.filter((m) => isJSONRPCRequest(m));
    const keys = session ? requests.map((m) => keyOf(session, request.owner, m.id)) : [];
    for (const key of keys) inflight.set(key, transport);
    const server = await connectMcpServer(transport, {
      client, waitSeconds: deps.config.mcpWaitSeconds, localFiles: false, stopping: deps.closing,
      // A canceled call gets no answer: end its stream rather than hold it open (a batch's others may still answer).
      onAbandoned: () => {
        if (requests.length === 1) void transport.close().catch(() => undefined);
      },
    });

    reply.hijack();
    const res = reply.raw;
    if (session) res.setHeader('mcp-session-id', session);
    res.on('close', () => {
      for (const key of keys) if (inflight.get(key) === transport) inflight.delete(key);
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    });
    try {
      await transport.handleRequest(request.raw, res, body);
    } catch (err) {
      request.log.error({ err }, 'mcp request failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(errorBody(new ApiError(500, 'internal_error', 'The MCP request failed unexpectedly. It has been logged; try again.'))));
      } else {
        res.end();
      }
    }
  });

  const notAllowed = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Allow', 'POST');
    return sendError(reply, new ApiError(405, 'method_not_allowed',
      'This MCP endpoint is stateless Streamable HTTP: send every JSON-RPC message with POST /mcp. '
      + 'There is no server-to-client stream to GET and no session to DELETE.'));
  };
  app.get('/mcp', { schema: { hide: true } }, notAllowed);
  app.delete('/mcp', { schema: { hide: true } }, notAllowed);
}
