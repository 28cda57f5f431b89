/**
 * GET /metrics: Prometheus text format (see src/metrics). Who may read it: src/metrics/access.ts
 * (ZIMAGE_METRICS). The queue gauges are read from the task store at scrape time (its cheap
 * queued/running counts: in a fleet, the shared store, so every API node shows the fleet's
 * queue); everything else was counted as it happened.
 */
import type { FastifyInstance } from 'fastify';
import { metricsGate } from '../../metrics/access.js';
import { metricsOf } from '../../metrics/registry.js';
import { watchTasks } from '../../metrics/taskMetrics.js';
import { watchWorkers } from '../../metrics/workerMetrics.js';
import { packageVersion } from '../../version.js';
import type { AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { ref } from '../schemas.js';

export async function metricsRoutes(app: FastifyInstance, deps: AppDeps) {
  if (deps.config.metrics === 'off') return;
  const metrics = metricsOf(deps.queue);
  const stop = metrics.watch(() => [
    watchTasks(metrics, deps.queue, deps.queue, deps.log),
    watchWorkers(metrics, deps.workers, deps.engine),
  ]);
  app.addHook('onClose', async () => stop());

  metrics.gauge('zimage_tasks', 'Tasks queued and running now (from the task store).', ['state'], async (g) => {
    const stats = await deps.queue.stats();
    g.set({ state: 'queued' }, stats.queued);
    g.set({ state: 'running' }, stats.running);
  });
  metrics.gauge('zimage_queue_depth', 'Tasks waiting to run (the same count as zimage_tasks{state="queued"}).', [], async (g) => {
    g.set((await deps.queue.stats()).queued);
  });
  metrics.gauge('zimage_queue_limit', 'ZIMAGE_MAX_QUEUE: queued tasks accepted before submits answer 503 queue_full.', [], (g) => {
    g.set(deps.config.maxQueue);
  });
  const version = packageVersion();
  metrics.gauge('zimage_build_info', 'Always 1; the labels say what runs.', ['version', 'node', 'backend', 'engine'], (g) => {
    g.set({ version, node: process.version, backend: deps.queue.name, engine: deps.engine?.name ?? 'none' }, 1);
  });

  const gate = metricsGate(deps.config, () => app.apiKeys); // auth's key ring (reloaded in place on SIGHUP)
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics (zimage_*, process_*, nodejs_*)',
      description: 'Open to callers on this machine; others need an API key (ZIMAGE_METRICS, see the README).',
      tags: ['meta'],
      response: {
        200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } },
        401: ref.error('A caller from another machine without a valid API key (the server has keys).'),
        403: ref.error('A caller from another machine, and the server has no API keys (metrics_forbidden).'),
      },
    },
  }, async (request, reply) => {
    const refused = gate(request);
    if (refused) {
      if (refused.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, refused);
    }
    const body = await metrics.render();
    return reply.type(metrics.contentType).header('Cache-Control', 'no-store').send(body);
  });
}
