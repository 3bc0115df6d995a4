import type { ServerMetrics } from '../observability/metrics.js';
import type { Router } from './router.js';

/** GET /metrics: the Prometheus text exposition, collected at request time. */
export function registerMetricsRoute(router: Router, metrics: ServerMetrics): void {
  router.get('/metrics', async () => ({
    status: 200,
    headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' },
    body: await metrics.metrics(),
  }));
}
