/**
 * HTTP requests by method, route template and status, and their durations. Labels are
 * bounded: the route is the matched template (`/v1/images/tasks/:task_id`, never the raw URL;
 * "unmatched" for a 404 that matched no route) and an unusual method counts as "other", so no
 * caller can create new time series by choosing URLs. A request the client abandoned before
 * any answer counts as status 499; an event stream it closed, with the status it had begun.
 */
import type { FastifyInstance } from 'fastify';
import { onRequestEnd } from '../http/requestEnd.js';
import type { ServerMetrics } from './registry.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function installHttpMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  onRequestEnd(app, (request, _reply, end) => {
    const method = METHODS.has(request.method) ? request.method : 'other';
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method, route, status: String(end.status) });
    metrics.httpDuration.observe({ method, route }, end.ms / 1000);
  });
  metrics.gauge('zimage_http_connections', 'Open client connections (keep-alive, long polls and event streams included).', [], (g) =>
    new Promise<void>((resolve) => {
      app.server.getConnections((err, n) => {
        if (!err) g.set(n);
        resolve();
      });
    }));
}
