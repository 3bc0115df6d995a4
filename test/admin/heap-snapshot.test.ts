import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { isPkgIndexError } from '../../src/errors.js';
import {
  checkSnapshotBudget,
  SNAPSHOT_DISK_FACTOR,
  SNAPSHOT_MEMORY_FACTOR,
  type MemoryProbe,
} from '../../src/admin/snapshot-budget.js';
import { get, startInProcess, type InProcess } from './harness.js';

// Heap snapshots have a file of their own, apart from the CPU profile tests: a snapshot taken
// here is the first use of the profiler in this process, as it is on a server an operator calls.

const MB = 1e6;

/** A probe with fixed figures, recording whether the disk was consulted. */
function probe(
  heapUsed: number,
  availableMemory: number,
  diskFree: number,
): MemoryProbe & { dirs: string[] } {
  const dirs: string[] = [];
  return {
    dirs,
    heapUsed: () => heapUsed,
    availableMemory: () => availableMemory,
    diskFree: (dir) => {
      dirs.push(dir);
      return Promise.resolve(diskFree);
    },
  };
}

async function refusal(promise: Promise<void>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPkgIndexError(err, 'E_ADMIN_HEAP_TOO_LARGE'), String(err));
    return err.message;
  }
  assert.fail('the snapshot was not refused');
}

describe('heap snapshot budget', () => {
  test('a heap within the memory and disk left passes', async () => {
    const p = probe(100 * MB, 100 * MB * SNAPSHOT_MEMORY_FACTOR, 100 * MB * SNAPSHOT_DISK_FACTOR);
    await checkSnapshotBudget(p, '/snapshots', 0);
    assert.deepEqual(p.dirs, ['/snapshots'], 'the disk left is measured where the file goes');
  });

  test('over the configured cap is refused, naming the option, before memory or disk are measured', async () => {
    const p = probe(300 * MB, Infinity, Infinity);
    const message = await refusal(checkSnapshotBudget(p, '/snapshots', 200 * MB));
    assert.match(message, /heap in use \(300 MB\) is over --admin-heap-snapshot-max-heap-bytes \(200 MB\)/);
    assert.match(message, /Take a CPU profile instead/);
    assert.deepEqual(p.dirs, []);
  });

  test('a cap of 0 is no cap', async () => {
    await checkSnapshotBudget(probe(10_000 * MB, Infinity, Infinity), '/snapshots', 0);
  });

  test('more memory needed than is left is refused, saying how much of each', async () => {
    const p = probe(100 * MB, 100 * MB * SNAPSHOT_MEMORY_FACTOR - 1 * MB, Infinity);
    const message = await refusal(checkSnapshotBudget(p, '/snapshots', 0));
    assert.match(
      message,
      /heap in use \(100 MB\) needs about 1000 MB to snapshot, and 999 MB of memory is left/,
    );
    assert.deepEqual(p.dirs, [], 'a refusal for memory costs no statfs');
  });

  test('a file larger than the disk free in the snapshot directory is refused, naming it', async () => {
    const p = probe(100 * MB, Infinity, 100 * MB * SNAPSHOT_DISK_FACTOR - 1 * MB);
    const message = await refusal(checkSnapshotBudget(p, '/snapshots', 0));
    assert.match(message, /needs about 200 MB in \/snapshots, and 199 MB is free there/);
  });
});

describe('GET /debug/heap-snapshot', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ config: { adminDebug: 'on' } });
  });
  after(async () => {
    await s.close();
  });

  const leftovers = async (): Promise<string[]> =>
    (await readdir(tmpdir())).filter((f) => f.startsWith(`pkgindex-${process.pid}-`));

  test('sends the snapshot, leaves no file behind, and a second one can follow', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await get(s.adminPort, '/debug/heap-snapshot');
      assert.equal(r.status, 200, r.text.slice(0, 200));
      const snapshot = JSON.parse(r.text) as { snapshot: { node_count: number } };
      assert.ok(snapshot.snapshot.node_count > 0);
      assert.deepEqual(await leftovers(), [], 'the snapshot file is removed once sent');
    }
    const taken = s.events.filter((e) => e.msg === 'heap snapshot taken');
    assert.equal(taken.length, 2);
    for (const e of taken) assert.ok(typeof e.bytes === 'number' && e.bytes > 0);
  });
});

describe('GET /debug/heap-snapshot over --admin-heap-snapshot-max-heap-bytes', () => {
  let s: InProcess;
  before(async () => {
    s = await startInProcess({ config: { adminDebug: 'on', adminHeapSnapshotMaxHeapBytes: 1 } });
  });
  after(async () => {
    await s.close();
  });

  test('answers 503 E_ADMIN_HEAP_TOO_LARGE and takes nothing', async () => {
    const r = await get(s.adminPort, '/debug/heap-snapshot');
    assert.equal(r.status, 503);
    const body = JSON.parse(r.text) as { error: string; message: string };
    assert.equal(body.error, 'E_ADMIN_HEAP_TOO_LARGE');
    assert.match(body.message, /--admin-heap-snapshot-max-heap-bytes/);
    assert.equal(s.events.filter((e) => e.msg === 'heap snapshot started').length, 0);
    // The refusal holds nothing: a CPU profile may still be taken.
    const profile = await get(s.adminPort, '/debug/cpu-profile?seconds=1');
    assert.equal(profile.status, 200);
  });
});
