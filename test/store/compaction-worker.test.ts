import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, open as openFile, readFile, unlink, writeFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { createError, isPkgIndexError } from '../../src/errors.js';
import { Verb } from '../../src/protocol/command.js';
import type { CompactionJob } from '../../src/store/compaction.js';
import { workerCompactor } from '../../src/store/compaction-worker.js';
import { segmentPath, snapshotPath } from '../../src/store/data-dir-files.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { IoTracker } from '../../src/store/fs/inflight-fs.js';
import { until } from '../support/until.js';
import { HEADER_BYTES } from '../../src/store/format/file-header.js';
import { FRAME_HEADER_BYTES, scanFrames } from '../../src/store/format/frame.js';
import { RecordBuffer } from '../../src/store/format/record-buffer.js';
import { newDataDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';

/**
 * A data dir with sealed segments, and the compaction job the store asked for them. The store's
 * own compactor only records the job, so the segments stay for the worker under test.
 */
async function sealedSegments(t: TestContext): Promise<CompactionJob> {
  const dir = await newDataDir(t);
  const jobs: CompactionJob[] = [];
  const store = new DiskStore({
    dataDir: dir,
    compactAfterBytes: 4096,
    compactor: (job) => {
      jobs.push(job);
      return Promise.reject(createError('E_STORAGE_IO', 'compaction held back by the test'));
    },
  });
  await store.open();
  for (let i = 0; jobs.length === 0; i++)
    await send(store, { verb: Verb.INDEX, name: `package-with-a-long-name-${i}`, deps: [] });
  await store.close();
  return jobs[0]!;
}

test('a compaction worker over a damaged segment reports E_STORAGE_CORRUPT with the file, the offset and the stack of the thread', async (t) => {
  const job = await sealedSegments(t);
  const path = segmentPath(job.dir, job.fromSeq);
  const bytes = await readFile(path);
  const starts: number[] = [];
  scanFrames(bytes, HEADER_BYTES, (_payload, offset) => starts.push(offset));
  const damaged = Buffer.from(bytes);
  damaged[starts[1]! + FRAME_HEADER_BYTES + 1]! ^= 0x40;
  await writeFile(path, damaged);

  await assert.rejects(workerCompactor()(job), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_CORRUPT'), String(err));
    assert.equal(err.name, 'StorageError');
    assert.ok(err.message.startsWith(`${path}: checksum mismatch at offset ${starts[1]}; `), err.message);
    assert.match(err.message, /restore the data dir from a backup/i);
    // Raised in the worker thread: the stack is the one of the fold there, not of the message handler.
    assert.match(err.stack ?? '', /foldSnapshot/);
    return true;
  });
});

test('a checksummed record whose end state cannot apply is reported as corruption at that record', async (t) => {
  // The fold applies only each package's last record: one naming a dependency no record or
  // snapshot indexed is found there, with the file and offset of that record.
  const job = await sealedSegments(t);
  const path = segmentPath(job.dir, job.toSeq);
  const bytes = await readFile(path);
  const forged = new RecordBuffer();
  forged.appendIndex('package-with-a-long-name-0', ['never-indexed']);
  await writeFile(path, Buffer.concat([bytes, forged.seal(bytes.length)]));

  await assert.rejects(workerCompactor()(job), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_CORRUPT'), String(err));
    assert.ok(
      err.message.startsWith(
        `${path}: record whose end state does not apply (index: missing-dependency) at offset ${bytes.length}; `,
      ),
      err.message,
    );
    return true;
  });
});

test('an I/O error in a compaction worker crosses to the main thread with its cause and system fields', async (t) => {
  const job = await sealedSegments(t);
  const path = segmentPath(job.dir, job.fromSeq);
  await unlink(path);
  await mkdir(path);

  await assert.rejects(workerCompactor()(job), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_IO'), String(err));
    assert.match(err.message, /EISDIR/);
    const cause = err.cause as NodeJS.ErrnoException;
    assert.ok(cause instanceof Error, 'the cause is an Error again');
    assert.equal(cause.code, 'EISDIR');
    assert.equal(cause.syscall, 'read');
    assert.match(cause.stack ?? '', /EISDIR/);
    return true;
  });
});

// Issue 11 (notes): the worker's I/O was not under the storage deadline. A real stall: a FIFO
// in place of a segment blocks the thread's open(2) in the kernel until a writer comes.
test('a compaction worker reports each file operation while in flight, and once aborted starts no other', async (t) => {
  const job = await sealedSegments(t);
  const path = segmentPath(job.dir, job.fromSeq);
  await unlink(path);
  execFileSync('mkfifo', [path]);
  const stuckDone: string[] = [];
  const io = new IoTracker((op) => stuckDone.push(`${op.op} ${op.path}`));
  const abort = new AbortController();
  let settled = false;
  const compaction = workerCompactor()(job, { io, signal: abort.signal }).finally(() => {
    settled = true;
  });
  await until('the open of the FIFO in flight', () => io.oldest()?.path === path);
  const open = io.oldest()!;
  assert.equal(open.op, 'open');
  open.stuck = true;
  abort.abort('abandoned by the test');
  // The thread is blocked in open(2): the compaction has not ended, and still shows in flight.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false);
  assert.equal(io.oldest(), open);

  // A writer opens the FIFO: the open returns, the next operation is refused, the worker answers.
  // The rejection is awaited from before the writer opens: the worker's answer can arrive before
  // the open's own callback, and would then be an unhandled rejection (seen under load).
  const refused = assert.rejects(compaction, (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_IO'), String(err));
    assert.match(err.message, /not started: the store abandoned this compaction/);
    return true;
  });
  const writer = await openFile(path, 'r+');
  t.after(() => writer.close());
  await refused;
  assert.equal(io.oldest(), null, 'nothing left in flight');
  assert.deepEqual(stuckDone, [`open ${path}`], 'the stuck operation is reported when it returns');
});

// Stop 43: a fresh thread for each compaction cost a third more CPU than the fold in a warm
// one, so the compactor keeps its thread between jobs; these hold it to when it may not.
test('a compactor keeps its thread for the next job, and starts a new one after a job that failed', async (t) => {
  const job = await sealedSegments(t);
  const compactor = workerCompactor();
  t.after(() => compactor.close());
  const first = await compactor(job);
  const snapshot = await readFile(snapshotPath(job.dir, job.toSeq));
  assert.equal(compactor.threadsStarted(), 1);
  assert.equal(compactor.waiting(), true, 'the thread waits for the next job');
  const second = await compactor(job);
  assert.equal(compactor.threadsStarted(), 1, 'the second job ran on the same thread');
  assert.deepEqual(second, first);
  assert.deepEqual(await readFile(snapshotPath(job.dir, job.toSeq)), snapshot, 'the same snapshot again');

  // A job that fails ends its thread: the next one starts another, and succeeds there.
  const path = segmentPath(job.dir, job.fromSeq);
  const bytes = await readFile(path);
  await writeFile(path, bytes.subarray(0, HEADER_BYTES - 1));
  await assert.rejects(compactor(job), (err: unknown) => isPkgIndexError(err, 'E_STORAGE_CORRUPT'));
  assert.equal(compactor.waiting(), false, 'a thread whose job failed is not kept');
  await writeFile(path, bytes);
  assert.deepEqual(await compactor(job), first);
  assert.equal(compactor.threadsStarted(), 2);
});

test('a compaction thread whose snapshot passed the size it keeps below ends at once', async (t) => {
  const job = await sealedSegments(t);
  const compactor = workerCompactor({ keepBelowSnapshotBytes: 64 });
  t.after(() => compactor.close());
  const { snapshotBytes } = await compactor(job);
  assert.ok(snapshotBytes > 64, `a snapshot of ${snapshotBytes} bytes`);
  assert.equal(compactor.waiting(), false);
});

test('with no idle time (--compaction-keep-ms 0) each compaction ends its thread', async (t) => {
  const job = await sealedSegments(t);
  const compactor = workerCompactor({ idleMs: 0 });
  t.after(() => compactor.close());
  await compactor(job);
  assert.equal(compactor.waiting(), false);
  await compactor(job);
  assert.equal(compactor.threadsStarted(), 2);
});

test('a waiting compaction thread ends after its idle time, and at close', async (t) => {
  const job = await sealedSegments(t);
  const compactor = workerCompactor({ idleMs: 50 });
  t.after(() => compactor.close());
  await compactor(job);
  assert.equal(compactor.waiting(), true);
  await until('the idle thread ended', () => !compactor.waiting());
  await compactor(job);
  assert.equal(compactor.threadsStarted(), 2, 'the next job started a new thread');
  await compactor.close();
  assert.equal(compactor.waiting(), false);
});

test('a compaction abandoned after its last file operation is answered, and its thread not kept', async (t) => {
  const job = await sealedSegments(t);
  const compactor = workerCompactor();
  t.after(() => compactor.close());
  // The store abandons a compaction from its watchdog at any time: here once the directory's
  // sync, the fold's last operation, has returned, so the thread answers with its result.
  const abort = new AbortController();
  const ops = new Map<number, string>();
  const io = {
    begin: (op: string, path: string): number => {
      ops.set(ops.size + 1, `${op} ${path}`);
      return ops.size;
    },
    end: (id: number): void => {
      if (ops.get(id) === `fsync ${job.dir}`) abort.abort('abandoned by the test');
    },
  };
  const result = await compactor(job, { io, signal: abort.signal });
  assert.equal(abort.signal.aborted, true, 'abandoned before the answer came');
  assert.ok(result.snapshotBytes > 0);
  assert.equal(compactor.waiting(), false, 'a thread whose job was abandoned is not kept');
});

test('a compaction thread waiting for its next job does not keep the process alive', async (t) => {
  const job = await sealedSegments(t);
  const module = new URL('../../src/store/compaction-worker.js', import.meta.url).href;
  const script = `
    import { workerCompactor } from ${JSON.stringify(module)};
    const compactor = workerCompactor({ idleMs: 60_000 });
    await compactor(${JSON.stringify(job)});
    console.log(compactor.waiting());
  `;
  // A file, not --input-type=module: a Worker inherits the process's execArgv, and refuses that one.
  const probe = join(job.dir, 'probe.mjs');
  await writeFile(probe, script);
  // Killed at the timeout (status null) if the thread held the process for its idle minute.
  const child = spawnSync(process.execPath, [probe], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.status, 0, `status ${child.status}, signal ${child.signal}: ${child.stderr}`);
  assert.equal(child.stdout.trim(), 'true', 'the thread was waiting when the script ended');
});

/** The nice value of each of this process's threads, by thread id (Linux's /proc). */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold anything: the
    // nice value is field 19, the 17th after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    nices.set(Number(tid), Number(fields[16]));
  }
  return nices;
}

// Stop 46: a compaction on the durable mutation load took a sixth of a core beside the owner
// and the load generator; at nice 19 it runs on what they leave idle (--compaction-nice).
test('a compaction thread takes the nice value asked for, and no other thread does', async (t) => {
  if (process.platform !== 'linux') {
    t.skip(`a thread's own nice value is Linux's; this is ${process.platform}`);
    return;
  }
  const own = getPriority();
  if (own === 19) {
    t.skip('this process already runs at nice 19: a thread at 19 would prove nothing');
    return;
  }
  const job = await sealedSegments(t);
  const before = threadNices();
  const compactor = workerCompactor({ nice: 19 });
  t.after(() => compactor.close());
  const result = await compactor(job);
  assert.deepEqual(result.thread, { nice: 19 });
  assert.equal(compactor.waiting(), true);
  const after = threadNices();
  const lowered = [...after].filter(([tid, nice]) => nice === 19 && !before.has(tid));
  assert.equal(lowered.length, 1, `one new thread at nice 19: ${JSON.stringify([...after])}`);
  assert.equal(after.get(process.pid), before.get(process.pid), "the main thread's nice value is unchanged");
  for (const [tid, nice] of before) if (after.has(tid)) assert.equal(after.get(tid), nice, `thread ${tid}`);
  assert.deepEqual((await compactor(job)).thread, { nice: 19 }, 'the kept thread answers at 19 again');

  const plain = workerCompactor();
  t.after(() => plain.close());
  assert.deepEqual((await plain(job)).thread, { nice: own }, 'none asked: the process priority');
});
