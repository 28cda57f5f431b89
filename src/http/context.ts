import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Engine, Storage, TaskEvents, TaskStore } from '../interfaces.js';
import type { Logger } from '../log.js';
import type { TaskService } from '../tasks/service.js';
import type { WorkerRegistry } from '../worker/registry.js';

/** What the HTTP layer is given. Routes use these and nothing else (no SQL, no model). */
export interface AppDeps {
  config: Config;
  tasks: TaskService;
  queue: TaskStore & TaskEvents;
  storage: Storage;
  engine: Engine | null;
  /** Live engine workers: this process's, or the fleet's from the registry. */
  workers: WorkerRegistry;
  log: Logger;
  /** Aborted when the server begins to close (set by buildApp). */
  closing: AbortSignal;
}

const HOST_RE = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * Base URL for links in responses: ZIMAGE_PUBLIC_URL if set, else from the request's Host
 * header, so an agent on the LAN gets a LAN address and a local caller a loopback one.
 * A Host header that is not a plain host[:port] is not echoed back.
 */
export function baseUrlOf(request: FastifyRequest, config: Config): string {
  if (config.publicUrl) return config.publicUrl;
  const host = request.headers.host;
  if (host && HOST_RE.test(host)) return `${request.protocol}://${host}`;
  const port = request.socket.localPort ?? config.port;
  return `http://127.0.0.1:${port}`;
}

/** ZIMAGE_MAX_UPLOAD_MB in bytes: the largest image (or mask) accepted. */
export const maxUploadBytes = (config: Config) => Math.round(config.maxUploadMb * 1024 * 1024);

/** Body limit of a JSON edit: an image and a mask in base64 (4/3 of their bytes) plus the fields. */
export const jsonEditBodyLimit = (config: Config) => Math.ceil((maxUploadBytes(config) * 2 * 4) / 3) + 64 * 1024;
