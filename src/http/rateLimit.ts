/**
 * Request rate per caller (ZIMAGE_RATE_LIMIT a minute): one runaway script gets 429s while
 * every other key goes on as before. A caller is its API key's name where it sent a valid one,
 * else its address. Counted in this process (an LRU of callers, so memory stays bounded);
 * each API node of a fleet counts its own. Registered after the auth hook, whose owner it reads.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';

const WINDOW_MS = 60_000;
/** Health checks come from load balancers and orchestrators at their own pace; never refuse them. */
const EXEMPT = (request: FastifyRequest) => request.url === '/health' || request.url.startsWith('/health/') || request.url.startsWith('/health?');

/** Who is counted: the API key's name, else the client address. */
export const callerOf = (request: FastifyRequest): string => (request.owner !== undefined ? `key:${request.owner}` : `ip:${request.ip}`);

export async function installRateLimit(app: FastifyInstance, config: Pick<Config, 'rateLimit'>): Promise<void> {
  if (!config.rateLimit) return;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimit,
    timeWindow: WINDOW_MS,
    hook: 'onRequest',
    cache: 10_000,
    keyGenerator: callerOf,
    allowList: (request) => EXEMPT(request),
    errorResponseBuilder: (request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      const who = request.owner !== undefined ? 'API key' : 'client address';
      return new ApiError(429, 'rate_limited',
        `Too many requests: this ${who} may send ${context.max} a minute (ZIMAGE_RATE_LIMIT), and the minute is not over. ` +
        `Wait ${seconds} s and try again (Retry-After says when); poll every few seconds rather than in a tight loop.`,
        null, 'rate_limit_error', seconds);
    },
  });
}
