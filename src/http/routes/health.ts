import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../context.js';
import { ref } from '../schemas.js';

export async function healthRoutes(app: FastifyInstance, deps: AppDeps) {
  app.get('/health', {
    schema: { summary: 'Liveness, engine state and queue depth', tags: ['meta'], response: { 200: ref.health('The server is up.') } },
  }, async () => {
    const stats = await deps.queue.stats();
    const engine = deps.engine;
    const state = engine?.state();
    return {
      status: 'ok',
      ready: !engine || state?.state === 'ready',
      engine: engine
        ? { name: engine.name, synthetic: engine.synthetic, ...state }
        : { name: null, state: 'none', message: 'this server runs no engine worker (ZIMAGE_WORKER=false): tasks wait in the queue until it runs with a worker again' },
      queue: { backend: deps.queue.name, queued: stats.queued, running: stats.running },
    };
  });
}
