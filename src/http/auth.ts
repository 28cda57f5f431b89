/**
 * Optional API-key auth (ZIMAGE_API_KEYS, ZIMAGE_API_KEYS_FILE). When keys are configured, every /v1/* and /mcp
 * request must carry one; the key's name becomes the request's `owner`, which scopes tasks and
 * idempotency keys. /health, /outputs/* (unguessable names), /openapi.json, /docs and
 * /SKILL.md stay open so that health checks, image links and the docs keep working.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { TaskRecord } from '../interfaces.js';
import { KeyRing } from './apiKeys.js';
import { sendError } from './errors.js';

export { parseApiKeys, type ApiKey } from './apiKeys.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Name of the caller's API key. Undefined when auth is off: every caller is then
     * "anonymous" (the queue's default owner) and may see every task.
     */
    owner: string | undefined;
  }
  interface FastifyInstance {
    /** The API keys in use; reloadApiKeys swaps them while the server runs. */
    apiKeys: KeyRing;
  }
}

/** Whether the request may see (poll, list, cancel) this task: any task when auth is off, else only its own. */
export const canSee = (request: FastifyRequest, task: TaskRecord): boolean =>
  request.owner === undefined || task.owner === request.owner;

const HOW = 'Send it as "Authorization: Bearer YOUR_KEY" (what OpenAI clients send for api_key) or as "X-API-Key: YOUR_KEY".';

const startsV1 = (path: string) => path === '/v1' || path.startsWith('/v1/');
/** The MCP endpoint: its tools call /v1 with the caller's key, and it is guarded as /v1 is. */
const isMcp = (path: string) => path === '/mcp' || path.startsWith('/mcp/');
const guardedPath = (path: string) => startsV1(path) || isMcp(path);

/** Guarded: the matched route or the path as written (decoded, slashes collapsed) is under /v1 or is /mcp. */
function isGuarded(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  if (route !== undefined && guardedPath(route)) return true;
  let path = request.url.split('?')[0];
  try {
    path = decodeURIComponent(path);
  } catch {
    return true;
  }
  return guardedPath(path.replace(/\/+/g, '/').toLowerCase());
}

/** The keys the request presents: a Bearer token and/or an X-API-Key header (also read by /metrics). */
export function presentedKeys(request: FastifyRequest): string[] {
  const found: string[] = [];
  const auth = request.headers.authorization;
  const bearer = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth.trim()) : null;
  if (bearer) found.push(bearer[1]);
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.trim()) found.push(header.trim());
  return found;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
/** Whether a listen address is reachable from this machine only. */
export const isLoopbackHost = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\./.test(host) || host === '[::1]';

/** One line at start that says whether auth is on; a loud warning when anyone on the network may use the server. */
function logAuthState(app: FastifyInstance, config: Config, ring: KeyRing): void {
  const source = [config.apiKeys && 'ZIMAGE_API_KEYS', config.apiKeysFile && `ZIMAGE_API_KEYS_FILE (${config.apiKeysFile})`].filter(Boolean).join(' and ');
  if (ring.enabled) {
    app.log.info({ auth: 'on', keys: ring.size, names: ring.names }, `API key auth is on: ${ring.size} key${ring.size === 1 ? '' : 's'} from ${source}`);
    if (ring.size === 0) {
      app.log.warn({ auth: 'on', keys: 0 }, `the key file ${config.apiKeysFile} holds no key: every request to /v1 and /mcp is refused until you add one (name:key a line) and send SIGHUP`);
    }
  } else if (isLoopbackHost(config.host)) {
    app.log.info({ auth: 'off' }, 'API key auth is off (no ZIMAGE_API_KEYS): anyone who can reach this machine\'s loopback may use the API');
  } else {
    app.log.warn({ auth: 'off', host: config.host },
      `API KEY AUTH IS OFF and the server listens on ${config.host}, beyond loopback: anyone who can reach it may generate images, ` +
      'read and delete every task. Set ZIMAGE_API_KEYS (or ZIMAGE_API_KEYS_FILE), or listen on 127.0.0.1 (HOST=127.0.0.1).');
  }
}

/**
 * Re-reads the key file (SIGHUP). A file that does not parse keeps the keys in use and logs an
 * error; nothing is thrown, so a bad edit never takes the server down.
 */
export function reloadApiKeys(app: FastifyInstance): boolean {
  const ring = app.apiKeys;
  if (!ring.enabled) {
    app.log.info('SIGHUP: no API keys to reload (auth is off: set ZIMAGE_API_KEYS_FILE, then restart)');
    return false;
  }
  try {
    const { added, removed, size } = ring.reload();
    app.log.info({ keys: size, added, removed }, `API keys reloaded: ${size} key${size === 1 ? '' : 's'} in use`);
    return true;
  } catch (err) {
    app.log.error({ err: (err as Error).message }, `API keys NOT reloaded, the ${ring.size} keys in use stay: ${(err as Error).message}`);
    return false;
  }
}

/** Registers the auth hook on the root instance, so every route registered after it is covered. */
export function installAuth(app: FastifyInstance, config: Config): void {
  const ring = new KeyRing(config);
  app.decorate('apiKeys', ring);
  app.decorateRequest('owner', undefined);
  logAuthState(app, config, ring);
  if (!ring.enabled) return;

  app.addHook('onRequest', async (request, reply) => {
    if (!isGuarded(request)) return;
    const presented = presentedKeys(request);
    for (const key of presented) {
      const owner = ring.ownerOf(key);
      if (owner !== undefined) {
        request.owner = owner;
        return;
      }
    }
    const err = new ApiError(401, 'invalid_api_key', presented.length
      ? `The API key is not valid. Check it for typos. ${HOW}`
      : `This server requires an API key. ${HOW}`, null, 'authentication_error');
    reply.header('WWW-Authenticate', 'Bearer');
    // "status": "failed" as on a 404, so a poller that only reads status stops.
    return sendError(reply, err, { status: 'failed' });
  });
}
