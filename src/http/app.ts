import multipart from '@fastify/multipart';
import type {} from '@fastify/swagger'; // route schema fields: summary, tags
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AppDeps } from './context.js';
import { installErrorHandlers } from './errors.js';
import { asyncTaskRoutes } from './routes/asyncTasks.js';
import { healthRoutes } from './routes/health.js';
import { outputRoutes } from './routes/outputs.js';
import { taskStatusRoutes } from './routes/taskStatus.js';

/**
 * Route plugins, one per feature. Each gets the same deps and registers its own routes;
 * adding a feature is adding a line here.
 */
const FEATURES: Array<(app: FastifyInstance, deps: AppDeps) => Promise<void>> = [
  healthRoutes,
  asyncTaskRoutes,
  taskStatusRoutes,
  outputRoutes,
];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const maxUpload = Math.round(deps.config.maxUploadMb * 1024 * 1024);
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    // JSON bodies are small; uploads go through multipart with their own limit.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  });
  installErrorHandlers(app);
  await app.register(multipart, {
    limits: { fileSize: maxUpload, files: 2, fields: 40, parts: 42, fieldSize: 64 * 1024, headerPairs: 200 },
  });
  for (const feature of FEATURES) await app.register(feature, deps);
  return app;
}
