import multipart from '@fastify/multipart';
import type {} from '@fastify/swagger'; // route schema fields: summary, tags
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { maxUploadBytes, type AppDeps } from './context.js';
import { installErrorHandlers } from './errors.js';
import { installLenientJson } from './lenientJson.js';
import { installClosing } from './lifetime.js';
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
];

export async function buildApp(baseDeps: Omit<AppDeps, 'closing'>): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: baseDeps.log as unknown as FastifyBaseLogger,
    // Per-request access logs are off: at poll rates they would dominate the log; task lifecycle is logged instead.
    logController: new LogController({ disableRequestLogging: true }),
    // JSON bodies are small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    return503OnClosing: false, // installClosing answers in our error shape instead
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  });
  installErrorHandlers(app);
  const deps: AppDeps = { ...baseDeps, closing: installClosing(app) };
  await app.register(multipart, {
    limits: { fileSize: maxUploadBytes(deps.config), files: 2, fields: 40, parts: 42, fieldSize: 64 * 1024, headerPairs: 200 },
  });
  await registerOpenApi(app, deps.config); // before the routes: it records them as they are added
  installAuth(app, deps.config);
  installLenientJson(app);
  for (const feature of FEATURES) await app.register(feature, deps);
  return app;
}
