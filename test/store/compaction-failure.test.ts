import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import { DiskStore } from '../../src/store/disk-store.js';
import { snapshotPath } from '../../src/store/data-dir-files.js';
import { TEMP_SUFFIX } from '../../src/store/data-dir-files.js';
import { exchange, get, sample, startInProcess } from '../admin/harness.js';
import { until } from '../support/until.js';
import { newDataDir } from './support/tmp-dir.js';

const DEPS = Array.from({ length: 25 }, (_, i) => `dependency-${i}-of-many`).join(',');

/** Lines of about 450 bytes (the long dependency lists, under the harness's 1 KiB line limit). */
function lines(from: number, count: number): string[] {
  const out = DEPS.split(',').map((dep) => `INDEX|${dep}|`);
  for (let i = from; i < from + count; i++) out.push(`INDEX|pkg${i}|${DEPS}`);
  return out;
}

const segments = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((name) => name.startsWith('segment-'));

test(
  'a compaction that keeps failing is logged at warn with its codes, counted, and heals once the obstacle goes',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    // The product's compactor (a worker thread), on the real file system.
    const s = await startInProcess({ store: new DiskStore({ dataDir: dir, compactAfterBytes: 4096 }) });
    t.after(() => s.close());
    // What the repro put where each compaction writes its snapshot: not a file the store
    // made, so not one it may delete.
    const obstacles = Array.from({ length: 6 }, (_, i) => snapshotPath(dir, i + 1) + TEMP_SUFFIX);
    for (const path of obstacles) await mkdir(path);

    const replies = await exchange(s.port, lines(0, 40));
    assert.ok(
      replies.every((r) => r === 'OK'),
      replies.join(','),
    );
    await until('a compaction failure logged', () =>
      s.events.some((e) => e.event === 'store.compaction.failed'),
    );
    const failed = s.events.find((e) => e.event === 'store.compaction.failed')!;
    assert.equal(failed.level, 40, 'at warn');
    assert.equal(failed.code, 'E_STORAGE_IO');
    assert.equal(failed.errno, 'EISDIR');
    assert.match(String(failed.detail), /in the way of the snapshot.*move it away or delete it/);
    assert.match(failed.msg, /log keeps growing/);
    assert.ok((failed.sealedSegments as number) >= 1);
    const metrics = (await get(s.adminPort, '/metrics')).text;
    assert.ok((sample(metrics, 'pkgindex_store_compactions_failed_total') ?? 0) >= 1, 'counted');
    // Still writable: a failed compaction stops nothing, so no state change is counted.
    assert.equal(sample(metrics, 'pkgindex_store_state_changes_total{writable="false"}'), 0);
    assert.ok((await segments(dir)).length >= 3, 'the sealed segments stay');

    for (const path of obstacles) await rmdir(path);
    const more = await exchange(s.port, lines(100, 40));
    assert.ok(more.every((r) => r === 'OK'));
    await until('a compaction succeeded', () => s.events.some((e) => e.event === 'store.compaction'));
    await until('the segments folded', async () => (await segments(dir)).length <= 3);
    // Closed here, before the hooks: the data dir's removal (newDataDir's hook) runs first, and
    // a compaction still writing into it makes that fail and the server stay up.
    await s.close();
  },
);

test(
  // Pins what a crash leaves (no fix needed): the store's own leftover temporary file is replaced.
  'a snapshot temporary file a crash left behind does not block compaction',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const s = await startInProcess({ store: new DiskStore({ dataDir: dir, compactAfterBytes: 4096 }) });
    t.after(() => s.close());
    for (let seq = 1; seq <= 6; seq++)
      await writeFile(snapshotPath(dir, seq) + TEMP_SUFFIX, 'half a snapshot');
    assert.ok((await exchange(s.port, lines(0, 40))).every((r) => r === 'OK'));
    await until('a compaction succeeded', () => s.events.some((e) => e.event === 'store.compaction'));
    assert.deepEqual(
      s.events.filter((e) => e.event === 'store.compaction.failed'),
      [],
    );
    await s.close();
  },
);
