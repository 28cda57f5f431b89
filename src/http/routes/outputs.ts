import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import { OUTPUT_NAME_RE } from '../../ids.js';
import type { AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { imageContent, ref } from '../schemas.js';

/**
 * Serves images this server produced. The name must match the server's own random naming
 * exactly, so no encoded traversal, absolute path or foreign file can ever be named.
 */
export async function outputRoutes(app: FastifyInstance, deps: AppDeps) {
  app.get<{ Params: { file: string } }>(
    '/outputs/:file',
    {
      schema: {
        summary: 'Download a generated image (raw bytes)', tags: ['images'],
        response: { 200: imageContent('The image file, as data[].url names it.'), 404: ref.error('No such image (or it expired).') },
      },
    },
    async (request, reply) => {
      const { file } = request.params;
      const notFound = new ApiError(404, 'file_not_found', 'No such image. Use the exact URL from a completed task; images are deleted after the retention period.', 'file');
      if (!OUTPUT_NAME_RE.test(file)) return sendError(reply, notFound);
      const obj = await deps.storage.get(`outputs/${file}`);
      if (!obj) return sendError(reply, notFound);
      return reply
        .header('Content-Type', obj.contentType)
        .header('Cache-Control', 'public, max-age=31536000, immutable')
        .header('X-Content-Type-Options', 'nosniff')
        .send(obj.data);
    },
  );
}
