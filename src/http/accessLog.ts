/**
 * Request ids and the access log.
 *
 * Every request gets an id: the caller's `X-Request-Id` when it is a sane token (so a proxy's
 * or a client's id follows the request into our logs), else a fresh random one. It is echoed
 * as `X-Request-Id` on every answer and is the `reqId` of every log line about the request.
 *
 * With ZIMAGE_ACCESS_LOG on, each request logs one line when it is over: method, route template
 * (not the raw URL: output file names are bearer links, and templates keep the line greppable),
 * status, milliseconds, request id, and the task id where there is one (the route's
 * `task_id`, the `x-task-id` header of the OpenAI routes, or the `task_id` a submit answers).
 * A request the client abandoned says `aborted` (status 499 when nothing was answered yet).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { onRequestEnd } from './requestEnd.js';

export const REQUEST_ID_HEADER = 'x-request-id';
/** What an incoming id may be: short, printable, no spaces or quotes (it lands in logs and headers). */
const SANE_ID = /^[A-Za-z0-9._:@+=-]{1,128}$/;
const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A submit answer starts with its task id: `{"task_id":"…"`. */
const ANSWER_TASK_ID = /^\{"task_id":"([A-Za-z0-9_-]{1,64})"/;
/** An unmatched path is logged (shortened) so a 404 says what was asked for. */
const MAX_PATH = 200;

declare module 'fastify' {
  interface FastifyRequest {
    /** The task this request is about, when the access log could tell. */
    accessTaskId: string | undefined;
  }
}

/** Fastify's genReqId: the caller's X-Request-Id if sane, else a random UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
}

function taskIdOf(request: FastifyRequest, reply: FastifyReply): string | undefined {
  if (request.accessTaskId) return request.accessTaskId;
  const param = (request.params as Record<string, unknown> | undefined)?.task_id;
  if (typeof param === 'string' && TASK_ID.test(param)) return param;
  const header = reply.getHeader('x-task-id');
  return typeof header === 'string' && TASK_ID.test(header) ? header : undefined;
}

/** Registers the request-id echo and (when on) the access log on the root instance, before the routes. */
export function installAccessLog(app: FastifyInstance, config: Config): void {
  app.decorateRequest('accessTaskId', undefined);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  if (!config.accessLog) return;

  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.method === 'POST' && typeof payload === 'string' && reply.statusCode < 300) {
      const m = ANSWER_TASK_ID.exec(payload.slice(0, 100));
      if (m) request.accessTaskId = m[1];
    }
    done(null, payload);
  });

  onRequestEnd(app, (request, reply, end) => {
    const route = request.routeOptions.url;
    const line: Record<string, unknown> = { method: request.method, route: route ?? null, status: end.status, ms: Math.round(end.ms * 10) / 10 };
    if (end.aborted) line.aborted = true;
    if (route === undefined) line.path = request.url.split('?')[0].slice(0, MAX_PATH);
    const task = taskIdOf(request, reply);
    if (task) line.task = task;
    const msg = `${request.method} ${route ?? line.path} ${end.status}${end.aborted ? ' (connection closed)' : ''}`;
    if (end.status >= 500) request.log.warn(line, msg);
    else request.log.info(line, msg);
  });
}
