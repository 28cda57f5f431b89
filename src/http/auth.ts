/**
 * Optional API-key auth (ZIMAGE_API_KEYS). When keys are configured, every /v1/* and /mcp
 * request must carry one; the key's name becomes the request's `owner`, which scopes tasks and
 * idempotency keys. /health, /outputs/* (unguessable names), /openapi.json, /docs and
 * /SKILL.md stay open so that health checks, image links and the docs keep working.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ConfigError, type Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { TaskRecord } from '../interfaces.js';
import { sendError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Name of the caller's API key. Undefined when auth is off: every caller is then
     * "anonymous" (the queue's default owner) and may see every task.
     */
    owner: string | undefined;
  }
}

export interface ApiKey {
  name: string;
  key: string;
}

const NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Parses `name:key,name2:key2` (the name is what comes before the first colon) or bare keys,
 * which are named by position: key-1, key-2, ... Empty entries are ignored.
 */
export function parseApiKeys(raw: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const name = colon >= 0 ? entry.slice(0, colon).trim() : `key-${i + 1}`;
    const key = colon >= 0 ? entry.slice(colon + 1).trim() : entry;
    if (!NAME_RE.test(name)) {
      throw new ConfigError(`ZIMAGE_API_KEYS entry ${i + 1}: the name "${name}" must be 1-64 letters, digits or _.@- (format name:key,name2:key2)`);
    }
    if (!key || /\s/.test(key)) throw new ConfigError(`ZIMAGE_API_KEYS entry ${i + 1} ("${name}"): the key must be non-empty and contain no spaces`);
    if (keys.some((k) => k.name === name)) throw new ConfigError(`ZIMAGE_API_KEYS: the name "${name}" is used twice; give each key its own name`);
    if (keys.some((k) => k.key === key)) throw new ConfigError(`ZIMAGE_API_KEYS: the key of "${name}" is also the key of another entry; keys must differ`);
    keys.push({ name, key });
  });
  return keys;
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

/** The keys the request presents: a Bearer token and/or an X-API-Key header. */
function presentedKeys(request: FastifyRequest): string[] {
  const found: string[] = [];
  const auth = request.headers.authorization;
  const bearer = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth.trim()) : null;
  if (bearer) found.push(bearer[1]);
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.trim()) found.push(header.trim());
  return found;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Registers the auth hook on the root instance, so every route registered after it is covered. */
export function installAuth(app: FastifyInstance, config: Config): void {
  const keys = parseApiKeys(config.apiKeys).map((k) => ({ name: k.name, digest: digest(k.key) }));
  app.decorateRequest('owner', undefined);
  if (keys.length === 0) return;

  /** Compares against every key in constant time (equal-length digests, no early exit). */
  const ownerOf = (presented: string): string | undefined => {
    const d = digest(presented);
    let owner: string | undefined;
    for (const k of keys) if (timingSafeEqual(d, k.digest) && owner === undefined) owner = k.name;
    return owner;
  };

  app.addHook('onRequest', async (request, reply) => {
    if (!isGuarded(request)) return;
    const presented = presentedKeys(request);
    for (const key of presented) {
      const owner = ownerOf(key);
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
