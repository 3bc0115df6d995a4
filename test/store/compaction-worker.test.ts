import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, open as openFile, readFile, unlink, writeFile } from 'node:fs/promises';
import { createError, isPkgIndexError } from '../../src/errors.js';
import { Verb } from '../../src/protocol/command.js';
import type { CompactionJob } from '../../src/store/compaction.js';
import { workerCompactor } from '../../src/store/compaction-worker.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
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
