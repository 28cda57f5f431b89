import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../errors.js';
import { sendError } from './errors.js';

/**
 * The server's closing signal, aborted when close() begins (preClose runs before Fastify waits
 * for in-flight requests), so waiting requests (sync, long-poll, SSE) answer at once instead of
 * holding the shutdown. Requests that still arrive on open connections get our 503.
 */
export function installClosing(app: FastifyInstance): AbortSignal {
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing.signal.aborted) return;
    reply.header('connection', 'close');
    return sendError(reply, new ApiError(503, 'shutting_down',
      'The server is shutting down. Try again in a few seconds; accepted tasks are kept and resume when it is back.',
      null, 'unavailable_error', 5));
  });
  return closing.signal;
}

/**
 * An AbortSignal that fires when the client goes away or the server shuts down, so a long
 * poll never outlives either. `done()` removes the listeners.
 */
export function requestLifetime(reply: FastifyReply, shutdown: AbortSignal): { signal: AbortSignal; done(): void } {
  const ctl = new AbortController();
  const abort = () => ctl.abort();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort();
  };
  reply.raw.on('close', onClose);
  shutdown.addEventListener('abort', abort);
  if (shutdown.aborted) abort();
  return {
    signal: ctl.signal,
    done: () => {
      reply.raw.off('close', onClose);
      shutdown.removeEventListener('abort', abort);
    },
  };
}

