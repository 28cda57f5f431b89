import type { FastifyInstance, FastifyRequest } from 'fastify';
import { featuresOf } from '../../skill/features.js';
import { skillDoc } from '../../skill/skillDoc.js';
import { authConfigured } from '../apiKeys.js';
import { baseUrlOf, type AppDeps } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { MAX_WAIT_SECONDS } from './taskStatus.js';

/**
 * What GET / answers API clients (JSON, or no Accept): where everything is. The route itself
 * is the playground's (src/playground/routes.ts), which gives browsers the page instead.
 */
export function serverIndex(request: FastifyRequest, deps: AppDeps) {
  const base = baseUrlOf(request, deps.config);
  return {
    name: 'Z-Image Server',
    engine: deps.engine ? { name: deps.engine.name, synthetic: deps.engine.synthetic, state: deps.engine.state().state } : null,
    links: {
      skill: `${base}/SKILL.md`, docs: `${base}/docs`, openapi: `${base}/openapi.json`, health: `${base}/health`,
      generate: `${base}/v1/images/async_generate`, edit: `${base}/v1/images/async_edit`,
    },
  };
}

/** The server describing itself: the OpenAPI document for tools, SKILL.md for agents. */
export async function metaRoutes(app: FastifyInstance, deps: AppDeps) {
  const auth = authConfigured(deps.config);
  app.get('/openapi.json', {
    schema: {
      summary: 'This OpenAPI 3.1 document', tags: ['meta'],
      response: { 200: { description: 'The document, generated from the route schemas.', type: 'object', additionalProperties: true } },
    },
  }, async (request) => openApiDocument(app, request, deps.config));

  app.get('/SKILL.md', {
    schema: {
      summary: 'The agent skill document (Markdown) for this server',
      description: 'The 2-step workflow with this server\'s base URL and abilities filled in; every example in it is tested against the API.',
      tags: ['meta'],
      response: { 200: { description: 'Markdown with YAML front matter.', content: { 'text/markdown': { schema: { type: 'string' } } } } },
    },
  }, async (request, reply) => {
    const engine = deps.engine;
    const text = skillDoc({
      baseUrl: baseUrlOf(request, deps.config),
      config: deps.config,
      auth,
      engine: engine ? { name: engine.name, synthetic: engine.synthetic, state: engine.state() } : null,
      features: featuresOf(app.swagger() as unknown as Record<string, unknown>, MAX_WAIT_SECONDS),
    });
    return reply.type('text/markdown; charset=utf-8').send(text);
  });
}
