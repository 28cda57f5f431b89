import multipart from '@fastify/multipart';
import type {} from '@fastify/swagger'; // route schema fields: summary, tags
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { maxUploadBytes, type AppDeps } from './context.js';
import { installErrorHandlers } from './errors.js';
import { errorShapeOptions, installClientErrors } from './clientErrors.js';
import { installRateLimit } from './rateLimit.js';
import { installLenientJson } from './lenientJson.js';
import { installClosing } from './lifetime.js';
import { createBoundedServer, type ConnectionLimits } from './limits/connections.js';
import { installUploadLimit } from './limits/uploads.js';
import { registerOpenApi } from './openapi.js';
import { asyncTaskRoutes } from './routes/asyncTasks.js';
import { healthRoutes } from './routes/health.js';
import { metaRoutes } from './routes/meta.js';
import { openaiRoutes } from './routes/openai.js';
import { outputRoutes } from './routes/outputs.js';
import { taskStatusRoutes } from './routes/taskStatus.js';
import { taskControlRoutes } from './routes/taskControl.js';
import { taskEventRoutes } from './routes/taskEvents.js';
import { installAuth } from './auth.js';
import { installAccessLog, requestIdOf } from './accessLog.js';
import { metricsRoutes } from './routes/metrics.js';
import { installHttpMetrics } from '../metrics/httpMetrics.js';
import { metricsOf } from '../metrics/registry.js';
import { playgroundRoutes } from '../playground/routes.js';
import { mcpRoutes } from '../mcp/http.js';

/**
 * Route plugins, one per feature. Each gets the same deps and registers its own routes;
 * adding a feature is adding a line here.
 */
const FEATURES: Array<(app: FastifyInstance, deps: AppDeps) => Promise<void>> = [
  healthRoutes,
  asyncTaskRoutes,
  taskStatusRoutes,
  taskControlRoutes,
  taskEventRoutes,
  outputRoutes,
  metaRoutes,
  playgroundRoutes,
  openaiRoutes,
  mcpRoutes,
  metricsRoutes,
];

/** What one client may hold of the server: connections, pipelined requests, stalls (src/http/limits/connections.ts). */
const connectionLimits = (config: AppDeps['config']): ConnectionLimits => ({
  maxConnections: config.maxConnections,
  keepAliveMs: config.keepAliveTimeoutSeconds * 1000,
  requestTimeoutMs: config.requestTimeoutSeconds * 1000,
  stallMs: config.stallTimeoutSeconds * 1000,
});

export async function buildApp(baseDeps: Omit<AppDeps, 'closing'>): Promise<FastifyInstance> {
  const app = Fastify({
    // Our node:http server: timeouts for headers, bodies and idle keep-alive, a connection cap, bounded pipelining.
    serverFactory: (handler) => createBoundedServer(handler, connectionLimits(baseDeps.config)),
    loggerInstance: baseDeps.log as unknown as FastifyBaseLogger,
    // Fastify's own request logs are off: accessLog.ts writes one line per request instead (ZIMAGE_ACCESS_LOG).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdOf, // the caller's X-Request-Id when sane, else a random one
    // JSON bodies are small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    return503OnClosing: false, // installClosing answers in our error shape instead
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    ...errorShapeOptions, // Node's parser errors and the router's bad URLs, in our error shape (clientErrors.ts)
  });
  installErrorHandlers(app, { uploadLimit: maxUploadBytes(baseDeps.config) });
  installClientErrors(app);
  installAccessLog(app, baseDeps.config); // first: every answer, a 401 included, carries X-Request-Id
  if (baseDeps.config.metrics !== 'off') installHttpMetrics(app, metricsOf(baseDeps.queue));
  const deps: AppDeps = { ...baseDeps, closing: installClosing(app) };
  await app.register(multipart, {
    limits: { fileSize: maxUploadBytes(deps.config), files: 2, fields: 40, parts: 42, fieldSize: 64 * 1024, headerPairs: 200 },
  });
  await registerOpenApi(app, deps.config); // before the routes: it records them as they are added
  installAuth(app, deps.config);
  await installRateLimit(app, deps.config); // after auth: it counts per API key
  // After auth and rate limits, so a refused caller never takes an upload slot.
  installUploadLimit(app, { maxConcurrent: deps.config.maxConcurrentUploads, waitMs: deps.config.stallTimeoutSeconds * 1000 });
  installLenientJson(app);
  for (const feature of FEATURES) await app.register(feature, deps);
  return app;
}
