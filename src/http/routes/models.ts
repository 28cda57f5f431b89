/**
 * GET /v1/models and GET /v1/models/{id} in OpenAI's shapes, so OpenAI clients can list
 * what this server serves. The image endpoints ignore `model`; this is information only.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import type { AppDeps } from '../context.js';
import { ref } from '../schemas.js';

const Model = Type.Object({
  id: Type.String({ description: 'Short model name, e.g. "z-image-turbo".' }),
  object: Type.Literal('model'),
  created: Type.Integer({ description: 'Unix seconds when this server started serving it.' }),
  owned_by: Type.String({ description: 'Publisher (the Hugging Face organisation), or "zimage-server".' }),
});
const ModelList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Model, { description: 'The models this node\'s engine, or the fleet\'s live workers, serve; empty when none runs.' }),
});

export interface OpenAIModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * The served model as an OpenAI model entry. The id is the short, lowercase name OpenAI
 * users expect ("Tongyi-MAI/Z-Image-Turbo" → "z-image-turbo"); `owned_by` is the
 * publisher part of a Hugging Face id, else this server.
 */
export function modelEntry(model: string, created: number): OpenAIModel {
  const trimmed = model.replace(/[/\\]+$/, '') || model;
  const hub = /^([\w.-]+)\/([\w.-]+)$/.exec(trimmed);
  // A local directory ("/models/Z-Image-Turbo") is named by its last part.
  const name = trimmed.split(/[/\\]/).pop() || trimmed;
  return { id: name.toLowerCase(), object: 'model', created, owned_by: hub ? hub[1] : 'zimage-server' };
}

export async function modelRoutes(app: FastifyInstance, deps: AppDeps) {
  // No model publishes a creation date we could know: report when this server started serving it.
  const created = Math.floor(Date.now() / 1000);

  /**
   * Full model names (as the engines report them) and their OpenAI entries: this node's
   * engine, else those of the fleet's live workers; none when no worker is live.
   */
  const served = async () => {
    const names = deps.engine
      ? [deps.engine.state().model ?? deps.engine.name]
      : (await deps.workers.live()).map((w) => w.model ?? w.engine);
    return [...new Set(names)].map((name) => ({ name, entry: modelEntry(name, created) }));
  };

  app.get('/v1/models', {
    schema: { summary: 'List served models (OpenAI-compatible)', tags: ['openai'], response: { 200: ModelList } },
  }, async () => ({
    object: 'list' as const,
    data: (await served()).map((m) => m.entry),
  }));

  app.get<{ Params: { id: string } }>('/v1/models/:id', {
    schema: {
      summary: 'Describe one served model (OpenAI-compatible)', tags: ['openai'],
      response: { 200: Model, 404: ref.error('Not a model this server serves.') },
    },
  }, async (request) => {
    const wanted = request.params.id.toLowerCase();
    const all = await served();
    const found = all.find((m) => m.entry.id === wanted || m.name.toLowerCase() === wanted);
    if (!found) {
      const ids = all.map((m) => `"${m.entry.id}"`).join(', ');
      throw new ApiError(404, 'model_not_found',
        `The model "${request.params.id}" is not served here. ${ids ? `Served: ${ids}.` : 'No engine worker is live.'} See GET /v1/models.`, 'model');
    }
    return found.entry;
  });
}
