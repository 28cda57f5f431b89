/**
 * At most ZIMAGE_MAX_CONCURRENT_UPLOADS uploads are held in memory at once. An upload is a
 * multipart form, or a body larger than JSON requests need on a route that takes images; it
 * holds its slot from its first byte until it is answered (or its client goes away). Others
 * wait, unread (the socket stops reading once 16 KB are buffered), and one that has waited
 * as long as a stalled client may stall gets 503 `server_busy` with Retry-After.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.js';

/** JSON bodies up to this size are ordinary requests, not uploads. */
const SMALL_BODY = 1024 * 1024;

const busy = (waitedSeconds: number) => new ApiError(503, 'server_busy',
  `The server is receiving as many uploads as it holds at once (ZIMAGE_MAX_CONCURRENT_UPLOADS); this one waited ${waitedSeconds} s for its turn. ` +
  'Send it again after Retry-After seconds.', null, 'unavailable_error', 5);

/** Whether a request brings an upload: multipart, or a large (or unsized) body on a route that accepts large bodies. */
export function isUpload(request: FastifyRequest): boolean {
  const { headers } = request;
  if (/^multipart\//i.test(headers['content-type'] ?? '')) return true;
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && length > 0);
  if (!hasBody || (length !== undefined && length <= SMALL_BODY)) return false;
  return (request.routeOptions.bodyLimit ?? 0) > SMALL_BODY;
}

/** A counting semaphore whose waiters give up after a while or when their client leaves. */
export class UploadSlots {
  private free: number;
  private readonly waiting = new Set<() => void>();

  constructor(readonly size: number) {
    this.free = size;
  }

  get inUse(): number {
    return this.size - this.free;
  }

  /** Resolves with a release function, or with undefined after waitMs or once `signal` aborts. */
  acquire(waitMs: number, signal: AbortSignal): Promise<(() => void) | undefined> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const give = () => {
        cleanup();
        resolve(this.releaser());
      };
      const giveUp = () => {
        cleanup();
        resolve(undefined);
      };
      const timer = setTimeout(giveUp, waitMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', giveUp);
        this.waiting.delete(give);
      };
      signal.addEventListener('abort', giveUp);
      this.waiting.add(give);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.values().next();
      if (next.done) this.free++;
      else next.value(); // the slot passes straight to the longest waiter
    };
  }
}

export function installUploadLimit(app: FastifyInstance, opts: { maxConcurrent: number; waitMs: number }): UploadSlots {
  const slots = new UploadSlots(opts.maxConcurrent);
  app.addHook('onRequest', async (request, reply) => {
    if (!isUpload(request)) return;
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    const release = await slots.acquire(opts.waitMs, gone.signal);
    if (!release) {
      reply.raw.off('close', onClose);
      if (gone.signal.aborted) return reply.hijack(); // nobody to answer
      throw busy(Math.round(opts.waitMs / 1000));
    }
    // 'close' comes once the answer is sent or the client has gone: the upload is freed either way.
    reply.raw.once('close', release);
    if (reply.raw.destroyed) release();
  });
  return slots;
}
