/**
 * The web playground: GET / gives browsers the page (API clients keep the JSON links), and
 * /playground/* serves its stylesheet, icon and compiled modules from the fixed table that
 * assets.ts reads at startup. All of it is open (not under /v1): the page asks for the API
 * key itself when a /v1 call answers 401, and sends it as a header.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../http/context.js';
import { etagMatches } from '../http/byteRange.js';
import { serverIndex } from '../http/routes/meta.js';
import { loadPlaygroundAssets, type Asset } from './assets.js';
import { contentSecurityPolicy } from './csp.js';
import { prefersHtml } from './negotiate.js';

/**
 * Asset URLs are not fingerprinted (the modules import each other by plain relative paths),
 * so browsers revalidate every time; an unchanged file costs a 304 without a body.
 */
const CACHE_CONTROL = 'no-cache';

export async function playgroundRoutes(app: FastifyInstance, deps: AppDeps) {
  const assets = loadPlaygroundAssets();
  if (assets.problem) deps.log.warn(assets.problem);
  const csp = contentSecurityPolicy(deps.config);

  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply
      .header('Content-Type', asset.contentType)
      .header('ETag', asset.etag)
      .header('Cache-Control', CACHE_CONTROL)
      .header('X-Content-Type-Options', 'nosniff');
    if (etagMatches(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
    return reply.send(asset.body);
  };

  app.get('/', {
    schema: {
      summary: 'Where to start: the web playground for browsers; links to the docs, the skill document and health for API clients',
      description: 'Answers the playground (HTML) when the Accept header prefers text/html over JSON, as a browser\'s does; ' +
        'otherwise (no Accept, */*, application/json) the JSON links.',
      tags: ['meta'],
      response: {
        200: {
          description: 'The links (JSON), or the playground page (HTML).',
          content: {
            'application/json': { schema: { type: 'object', additionalProperties: true } },
            'text/html': { schema: { type: 'string' } },
          },
        },
        304: { description: 'The page matches If-None-Match.' },
      },
    },
  }, async (request, reply) => {
    // Caches must keep the page and the JSON apart.
    reply.header('Vary', 'Accept');
    if (!prefersHtml(request.headers.accept)) return serverIndex(request, deps);
    reply
      .header('Content-Security-Policy', csp)
      .header('Referrer-Policy', 'no-referrer')
      .header('X-Frame-Options', 'DENY')
      .header('Cross-Origin-Opener-Policy', 'same-origin');
    return send(request, reply, assets.page);
  });

  // One route per file, registered now: a request names a route, never a path on disk.
  for (const [url, asset] of assets.files) {
    app.get(url, { schema: { hide: true } }, async (request, reply) => send(request, reply, asset));
  }
}
