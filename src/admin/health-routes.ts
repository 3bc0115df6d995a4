import { readiness, type HealthReporter, type ServingState } from '../observability/readiness.js';
import { jsonReply } from './reply.js';
import type { AdminRequest, Router } from './router.js';

/**
 * GET /healthz (liveness: the process answers; a restart would not help otherwise) and
 * GET /readyz (readiness: send clients here). Both are open even when a token is set, so
 * that orchestrators can probe without credentials; /readyz then answers only its status
 * (200/503 and `status`): its checks and reason (a data-dir path, an errno text) describe the
 * host, and are shown only to requests that `detail` admits (those with the token).
 */
export function registerHealthRoutes(
  router: Router,
  deps: {
    server: ServingState;
    store: HealthReporter;
    version: string;
    detail: (request: AdminRequest) => boolean;
  },
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
    (request) => {
      const r = readiness(deps.server, deps.store);
      const status = r.ready ? 'ready' : 'not ready';
      return jsonReply(deps.detail(request) ? { status, ...r } : { status }, {
        status: r.ready ? 200 : 503,
        headers: noStore,
      });
    },
    { public: true },
  );
}
