/**
 * "This request is over", exactly once per request and listener, however it ended: answered
 * (onResponse, also for hijacked answers such as event streams once they finish), or abandoned
 * by the client (onRequestAbort: a long poll or an event stream the client closed, an upload
 * it gave up). Fastify runs only one of the two hooks for most requests, but an answer that
 * finishes as the client goes could see both; the listener hears one.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface RequestEnd {
  /** The status sent; for a request abandoned before any answer, 499 (nginx's "client closed request"). */
  status: number;
  ms: number;
  /** The client closed the connection first (the answer may have begun: an event stream's 200). */
  aborted: boolean;
}

export function onRequestEnd(app: FastifyInstance, listener: (request: FastifyRequest, reply: FastifyReply, end: RequestEnd) => void): void {
  const replies = new WeakMap<FastifyRequest, FastifyReply>();
  const ended = new WeakSet<FastifyRequest>();
  const finish = (request: FastifyRequest, reply: FastifyReply, aborted: boolean) => {
    if (ended.has(request)) return;
    ended.add(request);
    const status = aborted && !reply.raw.headersSent ? 499 : reply.statusCode;
    listener(request, reply, { status, ms: reply.elapsedTime, aborted });
  };
  app.addHook('onRequest', (request, reply, done) => {
    replies.set(request, reply);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    finish(request, reply, false);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    const reply = replies.get(request);
    if (reply) finish(request, reply, true);
    done();
  });
}
