import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from '../../errors.js';
import { OUTPUT_NAME_RE } from '../../ids.js';
import type { ByteRange, ObjectInfo } from '../../storage/storage.js';
import { etagMatches, parseRange } from '../byteRange.js';
import type { AppDeps } from '../context.js';
import { sendError } from '../errors.js';
import { imageContent, ref } from '../schemas.js';

/** The validators and caching of an image: names are random and never rewritten, so it may be cached forever. */
function describe(reply: FastifyReply, info: ObjectInfo): FastifyReply {
  return reply
    .header('Content-Type', info.contentType)
    .header('Accept-Ranges', 'bytes')
    .header('ETag', info.etag)
    .header('Last-Modified', new Date(info.lastModified).toUTCString())
    .header('Cache-Control', 'public, max-age=31536000, immutable')
    .header('X-Content-Type-Options', 'nosniff');
}

/**
 * Serves images this server produced, from whatever storage it uses, so the URLs agents hold
 * never change. The name must match the server's own random naming exactly, so no encoded
 * traversal, absolute path or foreign file can ever be named. Bytes are streamed with
 * backpressure (a slow client holds one stream, not the image in memory); a single Range is
 * honoured so downloads can resume.
 */
export async function outputRoutes(app: FastifyInstance, deps: AppDeps) {
  app.route<{ Params: { file: string } }>({
    // HEAD is ours rather than Fastify's automatic one, which would read the whole object to discard it.
    method: ['GET', 'HEAD'],
    url: '/outputs/:file',
    schema: {
      summary: 'Download a generated image (raw bytes)', tags: ['images'],
      response: {
        200: imageContent('The image file, as data[].url names it.'),
        206: imageContent('The part of the image a `Range: bytes=start-end` header asked for.'),
        302: { description: 'With ZIMAGE_OUTPUTS_REDIRECT and S3 storage: Location is a presigned URL that downloads the image.' },
        304: { description: 'The image matches If-None-Match.' },
        404: ref.error('No such image (or it expired).'),
        416: ref.error('The Range lies outside the image.'),
      },
    },
    handler: async (request, reply) => {
      const { file } = request.params;
      const notFound = new ApiError(404, 'file_not_found', 'No such image. Use the exact URL from a completed task; images are deleted after the retention period.', 'file');
      if (!OUTPUT_NAME_RE.test(file)) return sendError(reply, notFound);
      const key = `outputs/${file}`;
      const { storage, config } = deps;

      if (config.outputsRedirect && storage.presignedUrl) {
        // A presigned URL for a missing object would answer S3's XML; ours says what to do.
        if (!(await storage.head(key))) return sendError(reply, notFound);
        return reply
          .header('Cache-Control', `private, max-age=${Math.floor(config.presignSeconds / 2)}`)
          .redirect(await storage.presignedUrl(key, config.presignSeconds), 302);
      }

      const { range: rangeHeader, 'if-none-match': ifNoneMatch, 'if-range': ifRange } = request.headers;
      // A plain GET opens the stream at once (one storage round trip); anything that must
      // decide on the size or validators first asks head().
      let info: ObjectInfo | undefined;
      let range: ByteRange | undefined;
      if (request.method === 'HEAD' || rangeHeader !== undefined || ifNoneMatch !== undefined) {
        info = await storage.head(key);
        if (!info) return sendError(reply, notFound);
        if (etagMatches(ifNoneMatch, info.etag)) return describe(reply, info).code(304).send();
        const rangeValid = ifRange === undefined || ifRange === info.etag || ifRange === new Date(info.lastModified).toUTCString();
        const parsed = rangeValid && request.method === 'GET' ? parseRange(rangeHeader, info.size) : undefined;
        if (parsed === 'unsatisfiable') {
          reply.header('Content-Range', `bytes */${info.size}`);
          return sendError(reply, new ApiError(416, 'range_not_satisfiable',
            `The Range "${rangeHeader}" lies outside the image (${info.size} bytes). Ask for bytes=0-${Math.max(0, info.size - 1)} at most, or send no Range for the whole image.`, 'range'));
        }
        range = parsed;
        if (request.method === 'HEAD') return describe(reply, info).header('Content-Length', String(info.size)).send();
      }

      const obj = await storage.stream(key, range);
      if (!obj) return sendError(reply, notFound);
      describe(reply, obj);
      if (!range) return reply.header('Content-Length', String(obj.size)).send(obj.body);
      return reply
        .code(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${obj.size}`)
        .header('Content-Length', String(range.end - range.start + 1))
        .send(obj.body);
    },
  });
}
