import type { FastifyInstance } from 'fastify';
import { readiness, type HealthReporter, type ServingState } from '../observability/readiness.js';

/**
 * GET /healthz (liveness: the process answers; a restart would not help otherwise) and
 * GET /readyz (readiness: send clients here). Both are open even when a token is set, so
 * that orchestrators can probe without credentials.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { server: ServingState; store: HealthReporter; version: string },
): void {
  const startedAt = Date.now();
  app.get('/healthz', { config: { public: true } }, async (_request, reply) =>
    reply.header('cache-control', 'no-store').send({
      status: 'ok',
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    }),
  );
  app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
    const r = readiness(deps.server, deps.store);
    return reply
      .code(r.ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: r.ready ? 'ready' : 'not ready', ...r });
  });
}
