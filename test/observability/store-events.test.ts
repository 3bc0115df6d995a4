import assert from 'node:assert/strict';
import { channel } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { ServerMetrics } from '../../src/observability/metrics.js';
import { subscribeStoreEvents } from '../../src/observability/store-events.js';
import { ServerStats } from '../../src/server/stats.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { StoreChannel } from '../../src/store/store-events.js';
import { exchange, get, memoryLogger, sample, startInProcess } from '../admin/harness.js';
import { newDataDir } from '../store/support/tmp-dir.js';
import { DiskStore } from '../../src/store/disk-store.js';

const STORE_ID = 'disk-under-test';

function setup(): {
  metrics: ServerMetrics;
  events: ReturnType<typeof memoryLogger>['events'];
  unsubscribe: () => void;
} {
  const { log, events } = memoryLogger('debug');
  const metrics = new ServerMetrics({
    stats: new ServerStats(),
    server: { listening: true, draining: false },
    store: new MemoryStore(),
    maxConnections: 10,
    version: 'test',
  });
  return { metrics, events, unsubscribe: subscribeStoreEvents({ storeId: STORE_ID, log, sink: metrics }) };
}

describe('storage events on diagnostics_channel', () => {
  test('sync events feed the sync latency and batch size histograms and are logged at debug', async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.SYNC).publish({ storeId: STORE_ID, durationMs: 3, records: 40, bytes: 2000 });
      channel(StoreChannel.SYNC).publish({ storeId: STORE_ID, durationMs: 0.2, records: 1, bytes: 30 });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_sync_duration_seconds_count'), 2);
      assert.equal(sample(m, 'pkgindex_store_sync_duration_seconds_bucket{le="0.0005"}'), 1);
      assert.equal(sample(m, 'pkgindex_store_sync_duration_seconds_bucket{le="0.005"}'), 2);
      assert.equal(sample(m, 'pkgindex_store_sync_batch_records_sum'), 41);
      assert.equal(sample(m, 'pkgindex_store_synced_bytes_total'), 2030);
      const logged = events.filter((e) => e.msg === 'storage sync');
      assert.equal(logged.length, 2);
      assert.equal(logged[0]!.level, 20);
      assert.equal(logged[0]!.records, 40);
      assert.equal(logged[0]!.storeId, STORE_ID);
    } finally {
      unsubscribe();
    }
  });

  test('recovery, state and compaction events set their metrics and log at info, warn or error', async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.RECOVERY).publish({
        storeId: STORE_ID,
        durationMs: 1500,
        packages: 7,
        records: 90,
        truncatedBytes: 12,
      });
      channel(StoreChannel.STATE).publish({ storeId: STORE_ID, writable: false, detail: 'ENOSPC' });
      channel(StoreChannel.STATE).publish({ storeId: STORE_ID, writable: true });
      channel(StoreChannel.COMPACTION).publish({
        storeId: STORE_ID,
        durationMs: 250,
        snapshotBytes: 4096,
        segmentsDropped: 3,
      });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_recovery_duration_seconds'), 1.5);
      assert.equal(sample(m, 'pkgindex_store_recovery_records'), 90);
      assert.equal(sample(m, 'pkgindex_store_recovery_truncated_bytes'), 12);
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="false"}'), 1);
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="true"}'), 1);
      assert.equal(sample(m, 'pkgindex_store_compaction_duration_seconds_count'), 1);
      assert.equal(sample(m, 'pkgindex_store_snapshot_bytes'), 4096);

      const byMsg = new Map(events.map((e) => [e.msg, e]));
      const recovered = byMsg.get('storage recovered; a torn tail was truncated');
      assert.equal(recovered?.level, 40);
      assert.equal(recovered.truncatedBytes, 12);
      const failed = byMsg.get('storage not writable: mutations are answered ERROR');
      assert.equal(failed?.level, 50);
      assert.equal(failed.detail, 'ENOSPC');
      assert.equal(byMsg.get('storage writable again')?.level, 30);
      assert.equal(byMsg.get('storage compacted')?.segmentsDropped, 3);
    } finally {
      unsubscribe();
    }
  });

  test('a stop of the log zeroing is counted and logged at warn with its path and why', async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.ZEROING).publish({
        storeId: STORE_ID,
        path: '/data/segment-0000000003.log',
        detail: 'ENOSPC: no space left on device',
      });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_log_zeroing_stopped_total'), 1);
      const logged = events.find((e) => e.event === 'store.zeroing');
      assert.equal(logged?.level, 40);
      assert.equal(logged.path, '/data/segment-0000000003.log');
      assert.match(String(logged.detail), /ENOSPC/);
    } finally {
      unsubscribe();
    }
  });

  test('a failed compaction is counted and logged at warn with its codes and what to do', async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.COMPACTION_FAILED).publish({
        storeId: STORE_ID,
        fromSeq: 1,
        toSeq: 2,
        code: 'E_STORAGE_IO',
        errno: 'ENOSPC',
        detail: 'compaction of segments 1..2 failed (ENOSPC: no space left on device)',
        sealedSegments: 3,
      });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_compactions_failed_total'), 1);
      const logged = events.find((e) => e.event === 'store.compaction.failed');
      assert.equal(logged?.level, 40);
      assert.equal(logged.errno, 'ENOSPC');
      assert.equal(logged.sealedSegments, 3);
      assert.match(logged.msg, /log keeps growing.*free space.*PkgIndexCompactionFailing/);
    } finally {
      unsubscribe();
    }
  });

  test('a store still not writable for a new reason is no transition: not counted, retries logged sparingly', async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.STATE).publish({
        storeId: STORE_ID,
        writable: false,
        detail: 'ENOSPC',
        changed: true,
      });
      for (let attempt = 1; attempt <= 20; attempt++)
        channel(StoreChannel.STATE).publish({
          storeId: STORE_ID,
          writable: false,
          detail: `reopening failed (ENOSPC); retrying in ${attempt} ms`,
          changed: false,
          attempt,
        });
      channel(StoreChannel.STATE).publish({ storeId: STORE_ID, writable: true, changed: true });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="false"}'), 1);
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="true"}'), 1);
      const state = events.filter((e) => e.event === 'store.state');
      assert.deepEqual(
        state.filter((e) => e.level === 50).map((e) => e.detail),
        ['ENOSPC'],
      );
      // Attempts 1, 2, 4, 8 and 16 at warn; the others at debug.
      assert.deepEqual(
        state.filter((e) => e.level === 40).map((e) => e.attempt),
        [1, 2, 4, 8, 16],
      );
      assert.equal(state.filter((e) => e.level === 20).length, 15);
    } finally {
      unsubscribe();
    }
  });

  test("another store's events are ignored: not counted, not logged", async () => {
    const { metrics, events, unsubscribe } = setup();
    try {
      channel(StoreChannel.SYNC).publish({ storeId: 'disk-other', durationMs: 3, records: 40, bytes: 2000 });
      channel(StoreChannel.STATE).publish({ storeId: 'disk-other', writable: false, detail: 'ENOSPC' });
      const m = await metrics.metrics();
      assert.equal(sample(m, 'pkgindex_store_sync_duration_seconds_count'), 0);
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="false"}'), 0);
      assert.deepEqual(events, []);
    } finally {
      unsubscribe();
    }
  });

  test('malformed messages are logged and ignored; after unsubscribing nothing is recorded', async () => {
    const { metrics, events, unsubscribe } = setup();
    channel(StoreChannel.SYNC).publish({ storeId: STORE_ID, durationMs: 'soon', records: 1, bytes: 1 });
    channel(StoreChannel.SYNC).publish({ durationMs: 1, records: 1, bytes: 1 });
    channel(StoreChannel.STATE).publish(null);
    assert.equal(events.filter((e) => e.msg === 'malformed storage event ignored').length, 3);
    unsubscribe();
    channel(StoreChannel.SYNC).publish({ storeId: STORE_ID, durationMs: 1, records: 1, bytes: 1 });
    assert.equal(sample(await metrics.metrics(), 'pkgindex_store_sync_duration_seconds_count'), 0);
    assert.equal(channel(StoreChannel.SYNC).hasSubscribers, false);
  });
});

describe('storage events of real servers', () => {
  test('a fresh start is no state change: nothing logged as "writable again", nothing counted', async (t) => {
    const store = new DiskStore({ dataDir: await newDataDir(t) });
    const s = await startInProcess({ store });
    try {
      assert.deepEqual(await exchange(s.port, ['INDEX|a|']), ['OK']);
      const m = (await get(s.adminPort, '/metrics')).text;
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="true"}'), 0);
      assert.equal(sample(m, 'pkgindex_store_state_changes_total{writable="false"}'), 0);
      assert.deepEqual(
        s.events.filter((e) => e.event === 'store.state').map((e) => e.msg),
        [],
      );
      assert.ok(
        s.events.some((e) => e.msg === 'storage recovered'),
        'the store did publish its recovery',
      );
    } finally {
      await s.close();
    }
  });

  test('two servers in one process each count and log only their own store', async (t) => {
    const first = await startInProcess({
      store: new DiskStore({ dataDir: await newDataDir(t) }),
      logLevel: 'debug',
    });
    const second = await startInProcess({
      store: new DiskStore({ dataDir: await newDataDir(t) }),
      logLevel: 'debug',
    });
    try {
      assert.notEqual(first.store.id, second.store.id);
      assert.deepEqual(await exchange(first.port, ['INDEX|a|', 'INDEX|b|a', 'REMOVE|b|']), [
        'OK',
        'OK',
        'OK',
      ]);
      const syncs = async (s: typeof first): Promise<number | undefined> =>
        sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_sync_batch_records_sum');
      assert.equal(await syncs(first), 3);
      assert.equal(await syncs(second), 0);
      const synced = (s: typeof first): unknown[] =>
        s.events.filter((e) => e.msg === 'storage sync').map((e) => e.storeId);
      assert.ok(synced(first).length > 0);
      assert.ok(synced(first).every((id) => id === first.store.id));
      assert.deepEqual(synced(second), []);
      // Each logged its own recovery only.
      const recoveries = (s: typeof first): unknown[] =>
        s.events.filter((e) => e.event === 'store.recovery').map((e) => e.storeId);
      assert.deepEqual(recoveries(first), [first.store.id]);
      assert.deepEqual(recoveries(second), [second.store.id]);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
