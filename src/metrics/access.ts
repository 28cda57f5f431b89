/**
 * Who may scrape GET /metrics (ZIMAGE_METRICS). The counts say nothing about any one task,
 * but they tell an outsider how busy the server is and which routes and errors it sees, so by
 * default only this machine reads them freely:
 *   loopback — a caller on loopback (and not forwarded by a proxy) is let in; any other caller
 *              needs an API key when the server has keys, and is refused when it has none;
 *   open     — anyone (behind a private network or a proxy that guards /metrics);
 *   off      — no /metrics route at all.
 * A proxy on this machine makes every caller look like loopback: a request carrying
 * Forwarded, X-Forwarded-For or X-Real-IP is therefore treated as remote.
 */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { presentedKeys } from '../http/auth.js';

const LOOPBACK_RE = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const FORWARD_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/** The server's API keys as auth holds them (its KeyRing: constant-time lookups, reloaded on SIGHUP). */
export interface KeyCheck {
  readonly enabled: boolean;
  ownerOf(presented: string): string | undefined;
}

/** The TCP peer is this machine, and no proxy says the request came from elsewhere. */
export function isLocalCaller(request: FastifyRequest): boolean {
  const peer = request.socket.remoteAddress ?? '';
  return LOOPBACK_RE.test(peer) && !FORWARD_HEADERS.some((h) => request.headers[h] !== undefined);
}


/**
 * A check for each /metrics request: undefined lets it through, an ApiError refuses it.
 * `keys` is read per request, so keys reloaded at run time apply at once.
 */
export function metricsGate(config: Config, keys: () => KeyCheck) {
  return (request: FastifyRequest): ApiError | undefined => {
    if (config.metrics === 'open' || isLocalCaller(request)) return undefined;
    const ring = keys();
    if (!ring.enabled) {
      return new ApiError(403, 'metrics_forbidden',
        'GET /metrics answers only callers on this machine, because this server has no API keys (ZIMAGE_METRICS=loopback). '
        + 'Scrape it from the same machine, or set ZIMAGE_API_KEYS and send a key, or set ZIMAGE_METRICS=open where the network is trusted.',
        null, 'authentication_error');
    }
    const offered = presentedKeys(request);
    if (offered.some((k) => ring.ownerOf(k) !== undefined)) return undefined;
    return new ApiError(401, 'invalid_api_key', offered.length
      ? 'The API key is not valid. GET /metrics from another machine needs one of the server\'s API keys, as "Authorization: Bearer YOUR_KEY" or "X-API-Key: YOUR_KEY".'
      : 'GET /metrics from another machine needs one of the server\'s API keys: send it as "Authorization: Bearer YOUR_KEY" (Prometheus: authorization.credentials) or "X-API-Key: YOUR_KEY".',
    null, 'authentication_error');
  };
}
