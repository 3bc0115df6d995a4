import { readiness, type HealthReporter, type ServingState } from '../observability/readiness.js';
import { jsonReply } from './reply.js';
import type { Router } from './router.js';

/**
 * GET /healthz (liveness: the process answers; a restart would not help otherwise) and
 * GET /readyz (readiness: send clients here). Both are open even when a token is set, so
 * that orchestrators can probe without credentials.
 */
export function registerHealthRoutes(
  router: Router,
  deps: { server: ServingState; store: HealthReporter; version: string },
): void {
  const startedAt = Date.now();
  const noStore = { 'cache-control': 'no-store' };
  router.get(
    '/healthz',
    () =>
      jsonReply(
        {
          status: 'ok',
          version: deps.version,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        },
        { headers: noStore },
      ),
    { public: true },
  );
  router.get(
    '/readyz',
    () => {
      const r = readiness(deps.server, deps.store);
      return jsonReply(
        { status: r.ready ? 'ready' : 'not ready', ...r },
        { status: r.ready ? 200 : 503, headers: noStore },
      );
    },
    { public: true },
  );
}
