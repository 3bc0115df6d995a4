import { channel } from 'node:diagnostics_channel';
import { StoreChannel } from '../../src/store/store-events.js';
import { exchange, get, sampleNames, startInProcess } from '../admin/harness.js';

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
