import { channel } from 'node:diagnostics_channel';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StoreChannel } from '../../src/store/store-events.js';
import { exchange, get, sampleNames, startInProcess } from '../admin/harness.js';

/**
 * Runs a garbage collection and resolves once its performance entry has been delivered.
 * prom-client's GC histogram has samples only after a collection it observed; whether one
 * happened by the scrape depended on the run (under coverage, none did).
 */
function collectGarbage(): Promise<void> {
  return new Promise((resolve) => {
    const observer = new PerformanceObserver(() => {
      observer.disconnect();
      resolve();
    });
    observer.observe({ entryTypes: ['gc'] });
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  });
}

/**
 * The sample names a real server exports on /metrics (histograms as _bucket/_sum/_count),
 * after some traffic and one event of each storage kind, so that every family has samples.
 */
export async function exportedSampleNames(): Promise<Set<string>> {
  const s = await startInProcess();
  try {
    await exchange(s.port, ['INDEX|a|', 'QUERY|a|', 'nonsense']);
    const storeId = s.store.id;
    channel(StoreChannel.SYNC).publish({ storeId, durationMs: 1, records: 1, bytes: 10 });
    channel(StoreChannel.RECOVERY).publish({
      storeId,
      durationMs: 1,
      packages: 0,
      records: 0,
      truncatedBytes: 0,
    });
    channel(StoreChannel.COMPACTION).publish({
      storeId,
      durationMs: 1,
      snapshotBytes: 1,
      segmentsDropped: 0,
    });
    await collectGarbage();
    return sampleNames((await get(s.adminPort, '/metrics')).text);
  } finally {
    await s.close();
  }
}

/**
 * Metric names referenced in PromQL (or any text): our own (pkgindex_*) and the process
 * metrics of prom-client (process_*, nodejs_*). Recording rules (pkgindex:...) and
 * Prometheus's own series (up) are not matched.
 */
export function referencedMetrics(promql: string): string[] {
  return [...new Set([...promql.matchAll(/\b(?:pkgindex|process|nodejs)_[a-zA-Z0-9_]+/g)].map((m) => m[0]))];
}
