import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../observability/metrics.js';

/** GET /metrics: the Prometheus text exposition, collected at request time. */
export function registerMetricsRoute(app: FastifyInstance, metrics: ServerMetrics): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.metrics();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(body);
  });
}
