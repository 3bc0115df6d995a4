import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskStore, MAX_SEALED_WHILE_COMPACTING } from '../../src/store/disk-store.js';
import { FaultFs } from '../support/fault-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { LineClient, writerAndReader } from '../support/line-client.js';
import { SERVINGS, startServer } from '../support/servers.js';
import { until } from '../support/until.js';
import { get, sample, startInProcess } from '../admin/harness.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { restoreArchive } from '../../src/store/backup-archive.js';
import { newDataDir, tempDir } from './support/tmp-dir.js';
import { answersAfterRestart } from './support/restart.js';

const TIMEOUT_MS = 300;

function storeOn(dir: string, fs: FaultFs): DiskStore {
  return new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    retryMinMs: 5,
    retryMaxMs: 20,
    storageTimeoutMs: TIMEOUT_MS,
  });
}

// Issue 11, defect 6: with fdatasync blocked (a hung disk, NFS), replies waited forever,
// /readyz stayed ready and no metric moved, since latency was recorded only on release.
// Every serving: the native layer answers held replies in a second part (ADR 0019).
for (const { threads, io, label } of SERVINGS)
  for (const [op, then] of [
    ['datasync', 'succeeds'],
    ['write', 'succeeds'],
    ['datasync', 'fails'],
  ] as const) {
    test(
      `${label}: a ${op} hung past --storage-timeout-ms: held replies ERROR, not ready, gauge grows; the store recovers once it ${then}`,
      { timeout: 60_000 },
      async (t) => {
        const dir = await newDataDir(t);
        const fs = new FaultFs();
        const store = storeOn(dir, fs);
        const s = await startInProcess({ store, config: { io, threads } });
        t.after(() => s.close());
        const { writer, reader } = await writerAndReader(t, s.port);
        assert.deepEqual(await writer.request('INDEX|base|'), ['OK']);

        const hold = fs.hold(op, '.log');
        if (then === 'fails') fs.inject({ op: 'datasync', path: '.log' });
        const stuck = writer.request('INDEX|stuck|base');
        await hold.reached;
        // Observes the stuck INDEX, so it is held behind the same sync.
        const observed = reader.request('QUERY|stuck|');
        assert.deepEqual(await stuck, ['ERROR'], 'answered at the deadline, not when the disk returns');
        assert.deepEqual(await observed, ['ERROR']);

        // Still hung: not ready, the gauge shows the age, the log says what is stuck.
        const ready = await get(s.adminPort, '/readyz');
        assert.equal(ready.status, 503);
        assert.match(
          ready.text,
          new RegExp(`has not completed after \\d+ ms \\(--storage-timeout-ms ${TIMEOUT_MS}\\)`),
        );
        const metrics = (await get(s.adminPort, '/metrics')).text;
        assert.ok(sample(metrics, 'pkgindex_store_inflight_io_age_seconds')! >= TIMEOUT_MS / 1000, metrics);
        assert.equal(sample(metrics, 'pkgindex_store_io_stuck_total'), 1);
        assert.equal(sample(metrics, 'pkgindex_store_writable'), 0);
        assert.ok(
          s.events.some((e) => e.msg.startsWith('storage operation stuck') && e.op === 'write+fdatasync'),
        );
        // Reads are answered from the last durable state; mutations are refused.
        assert.deepEqual(await reader.request('QUERY|stuck|', 'QUERY|base|'), ['FAIL', 'OK']);
        assert.deepEqual(await writer.request('INDEX|other|'), ['ERROR']);

        hold.release();
        await until('writable again', () => store.health().writable);
        assert.ok(
          s.events.some(
            (e) => e.msg === 'stuck storage operation completed' && e.failed === (then === 'fails'),
          ),
        );
        assert.equal((await get(s.adminPort, '/readyz')).status, 200);
        // Back to 0: nothing stuck. Not at every scrape, since the watchdog's check of the live
        // segment (an fstat, at most a second apart) is itself storage I/O in flight for a moment.
        await until(
          'no storage operation in flight',
          async () =>
            sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_inflight_io_age_seconds') === 0,
        );
        // Whatever the late operation did, the mutation answered ERROR did not happen.
        assert.deepEqual(await reader.request('QUERY|stuck|'), ['FAIL']);
        assert.deepEqual(await writer.request('INDEX|after|base'), ['OK']);

        writer.close();
        reader.close();
        await s.close();
        assert.deepEqual(await answersAfterRestart(t, dir, ['QUERY|stuck|', 'QUERY|base|', 'QUERY|after|']), [
          'FAIL',
          'OK',
          'OK',
        ]);
      },
    );
  }

test('an operation quicker than the deadline changes nothing, and the gauge is 0 when idle', async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  const store = storeOn(dir, fs);
  const client = await startServer({ storage: 'disk', dataDir: dir }, { store });
  t.after(() => client.close());
  const hold = fs.hold('datasync');
  const line = await LineClient.open(client.port);
  t.after(() => {
    line.close();
  });
  const reply = line.request('INDEX|a|');
  await hold.reached;
  assert.ok(store.health().inflightIoMs! >= 0, 'in flight while held');
  hold.release();
  assert.deepEqual(await reply, ['OK']);
  // Idle once the watchdog's own check of the live segment (an fstat) is not in flight either.
  await until('nothing in flight', () => store.health().inflightIoMs === undefined, 5_000);
  assert.equal(store.health().writable, true);
});

const COMPACTION_TIMEOUT_MS = 1500;

// Issue 11 (notes): the compaction's reads, writes and fsyncs had no deadline. A compaction
// hung in the file system held the writer (rotation waits for it once 4 sealed segments wait),
// every backup and every reopen, and nothing said so.
test(
  "a compaction's write hung past --storage-timeout-ms: reported, abandoned, and the writer goes on; retried once it returns",
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = new DiskStore({
      dataDir: dir,
      fs,
      compactor: inlineCompactor(fs),
      compactAfterBytes: 2048,
      // Longer than the other tests': the writer's own operations, a thousand of them here, must
      // not pass it on a loaded machine.
      storageTimeoutMs: COMPACTION_TIMEOUT_MS,
    });
    const s = await startInProcess({ store });
    t.after(() => s.close());
    const client = await LineClient.open(s.port);
    t.after(() => {
      client.close();
    });
    const acked: string[] = [];
    let next = 0;
    /** Indexes `n` packages with long names (a rotation every ~20), one request at a time. */
    const write = async (n: number): Promise<void> => {
      for (const end = next + n; next < end; next++) {
        const name = `package-${next}-${'x'.repeat(80)}`;
        const reply = await client.request(`INDEX|${name}|`);
        assert.deepEqual(
          reply,
          ['OK'],
          `${name}: ${JSON.stringify(s.events.filter((e) => e.event === 'store.io'))}`,
        );
        acked.push(name);
      }
    };
    const segments = async (): Promise<number> =>
      (await readdir(dir)).filter((n) => n.startsWith('segment-')).length;

    // The first compaction writes its snapshot into a file system that hangs.
    const hold = fs.hold('write', '.snap');
    const writing = write(1000);
    await hold.reached;
    await until('the compaction reported stuck', () => /abandoned/.test(store.health().detail ?? ''));
    const metrics = (await get(s.adminPort, '/metrics')).text;
    assert.equal(sample(metrics, 'pkgindex_store_io_stuck_total'), 1);
    assert.ok(
      sample(metrics, 'pkgindex_store_inflight_io_age_seconds')! >= COMPACTION_TIMEOUT_MS / 1000,
      metrics,
    );
    assert.equal(sample(metrics, 'pkgindex_store_writable'), 1, 'writes go on');
    assert.equal((await get(s.adminPort, '/readyz')).status, 200);
    assert.ok(
      s.events.some(
        (e) =>
          e.msg.startsWith('compaction storage operation stuck') && e.op === 'write' && e.compaction === true,
      ),
    );
    assert.match(
      store.health().detail!,
      new RegExp(
        `write of .*\\.snap\\.tmp has not completed after \\d+ ms \\(--storage-timeout-ms ${COMPACTION_TIMEOUT_MS}\\); writes go on`,
      ),
    );

    // The writer is not held behind it: many more rotations than the backpressure bound (4
    // sealed segments behind a running compaction), every mutation acknowledged.
    await writing;
    const during = await segments();
    assert.ok(during > MAX_SEALED_WHILE_COMPACTING + 2, `${during} segments`);
    // A backup is not held either, and does not wait for it.
    const backup = await store.startBackup();
    for await (const _ of backup.stream);
    assert.ok(backup.files > MAX_SEALED_WHILE_COMPACTING, String(backup.files));

    // The disk returns: the abandoned compaction stops at its next operation; the next
    // rotation compacts everything, and the log shrinks back.
    hold.release();
    await until('the stuck operation reported done', () =>
      s.events.some((e) => e.msg === 'stuck storage operation completed' && e.compaction === true),
    );
    // Only what runs now is in flight (the abandoned compaction closing its file, at most).
    const age = sample((await get(s.adminPort, '/metrics')).text, 'pkgindex_store_inflight_io_age_seconds')!;
    assert.ok(age < COMPACTION_TIMEOUT_MS / 1000, String(age));
    await write(100);
    await until('compacted again', async () => (await segments()) <= 3, 20_000);
    assert.equal(store.health().detail, undefined, 'the reason is cleared by a compaction that succeeds');

    client.close();
    await s.close();
    const replies = await answersAfterRestart(
      t,
      dir,
      acked.map((name) => `QUERY|${name}|`),
    );
    assert.deepEqual(
      acked.filter((_, i) => replies[i] !== 'OK'),
      [],
      'every acknowledged mutation survives',
    );
  },
);

// A compaction abandoned at the rename of its snapshot into place: that rename is in the
// kernel and cannot be called back, so it may still land after a backup has cut the dir. The
// snapshot it leaves is one the store does not know of; the next recovery (a reopen after a
// log failure, in the same process) adopts it and deletes the segments it covers, which the
// backup's cut names. The backup holds its files open from the cut on, so it streams whole.
test(
  "a compaction abandoned in its snapshot's rename, then a backup, then the rename lands and the store reopens: the backup restores whole",
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = new DiskStore({
      dataDir: dir,
      fs,
      compactor: inlineCompactor(fs),
      compactAfterBytes: 2048,
      retryMinMs: 5,
      retryMaxMs: 20,
      storageTimeoutMs: COMPACTION_TIMEOUT_MS,
    });
    const s = await startInProcess({ store });
    t.after(() => s.close());
    const client = await LineClient.open(s.port);
    t.after(() => {
      client.close();
    });
    const acked: string[] = [];
    const index = async (name: string): Promise<string | undefined> => {
      const [reply] = await client.request(`INDEX|${name}|`);
      if (reply === 'OK') acked.push(name);
      return reply;
    };
    const files = async (): Promise<string[]> => (await readdir(dir)).sort();

    const hold = fs.hold('rename', '.snap.tmp');
    // Set by the callback below (`as`: not narrowed to false for the loop).
    let renaming = false as boolean;
    void hold.reached.then(() => (renaming = true));
    for (let i = 0; !renaming; i++) assert.equal(await index(`a${i}-${'x'.repeat(80)}`), 'OK');
    await until('the compaction abandoned', () => /abandoned/.test(store.health().detail ?? ''));
    const backup = await store.startBackup();
    const inBackup = acked.length;
    const before = await files();
    assert.ok(!before.some((name) => name.endsWith('.snap')), before.join());

    // The disk returns: the rename lands (the compaction then stops at its directory sync).
    hold.release();
    await until('the abandoned rename landed', async () => (await files()).some((n) => n.endsWith('.snap')));
    // A failed log sync: the reopen recovers the dir, from the snapshot the store never adopted.
    fs.inject({ op: 'datasync', path: '.log' });
    for (let i = 0; (await index(`b${i}`)) === 'OK'; i++);
    await until('writable again', () => store.health().writable);
    const after = await files();
    const gone = before.filter((name) => name.startsWith('segment-') && !after.includes(name));
    assert.ok(gone.length > 0, `the reopen deleted none of the cut's segments: ${after.join()}`);

    const target = join(await tempDir(t), 'target');
    await new NodeFs().mkdir(target);
    await restoreArchive(backup.stream, new NodeFs(), target);
    const { graph } = await recover(new NodeFs(), target, { repair: false, createIndex: 'never' });
    assert.deepEqual(
      acked.slice(0, inBackup).filter((name) => !graph.has(name)),
      [],
      'the backup holds every mutation acknowledged before it',
    );

    // The live dir, with the snapshot the abandoned compaction left, is one a restart accepts.
    client.close();
    await s.close();
    const replies = await answersAfterRestart(
      t,
      dir,
      acked.map((name) => `QUERY|${name}|`),
    );
    assert.deepEqual(
      acked.filter((_, i) => replies[i] !== 'OK'),
      [],
      'every acknowledged mutation survives',
    );
  },
);
