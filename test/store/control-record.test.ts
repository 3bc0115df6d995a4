import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFile,
  cp,
  mkdir,
  open,
  readdir,
  readFile,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import diagnostics_channel from 'node:diagnostics_channel';
import { isPkgIndexError } from '../../src/errors.js';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore, type DiskStoreOptions } from '../../src/store/disk-store.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import { HEADER_BYTES } from '../../src/store/format/file-header.js';
import { scanFrames } from '../../src/store/format/frame.js';
import { StoreChannel, type RecoveryEvent } from '../../src/store/store-events.js';
import { runCli } from '../cli/processes.js';
import { newDataDir, tempDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';

/** Two runs of 300 acknowledged records each, both stopped cleanly: segments 1 and 2. */
async function twoRuns(dir: string, options: Partial<DiskStoreOptions> = {}): Promise<void> {
  for (let run = 0; run < 2; run++) {
    const store = new DiskStore({ dataDir: dir, ...options });
    await store.open();
    for (let i = 0; i < 300; i++)
      assert.equal(await send(store, { verb: Verb.INDEX, name: `r${run}-p${i}`, deps: [] }), Reply.OK);
    await store.close();
  }
}

async function opened(dir: string, options: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const store = new DiskStore({ dataDir: dir, ...options });
  await store.open();
  return store;
}

/** Opening `dir` is refused with E_STORAGE_DATA_LOSS, naming `file`. */
async function refused(dir: string, file: string, options: Partial<DiskStoreOptions> = {}): Promise<void> {
  await assert.rejects(opened(dir, options), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_DATA_LOSS'), String(err));
    assert.ok(err.message.includes(file), `${err.message} does not name ${file}`);
    assert.match(err.message, /--accept-data-loss/);
    return true;
  });
}

const segments = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();

test('a deleted newest segment is data loss: refused, named, and nothing is changed', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  await unlink(segmentPath(dir, 2));
  const before = await readdir(dir);
  await refused(dir, 'segment-0000000002.log');
  assert.deepEqual((await readdir(dir)).sort(), before.sort(), 'a refused start changed the data dir');
});

test('all segments deleted, or the snapshot too, is data loss', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir, { compactAfterBytes: 4096 });
  for (const name of await segments(dir)) await unlink(join(dir, name));
  const files = await readdir(dir);
  // With a snapshot left, the first missing file is the newest segment.
  await refused(dir, files.some((f) => f.endsWith('.snap')) ? 'segment-' : '.log');
  for (const name of files.filter((f) => f.endsWith('.snap'))) await unlink(join(dir, name));
  await refused(dir, 'segment-');
});

test('an emptied directory: refused by default and with never, a new index with createIndex empty', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  for (const name of await readdir(dir)) await unlink(join(dir, name));
  for (const createIndex of [undefined, 'missing', 'never'] as const) {
    await assert.rejects(opened(dir, createIndex === undefined ? {} : { createIndex }), (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_STORAGE_NO_INDEX'), String(err));
      assert.match(err.message, /exists but holds no index/);
      assert.match(err.message, /pkgindex init --data-dir .*pkgindex restore/);
      return true;
    });
    assert.deepEqual(await readdir(dir), [], 'a refused start changes nothing');
  }
  const store = await opened(dir, { createIndex: 'empty' });
  assert.equal(store.stats().packages, 0);
  await store.close();
  // Once it exists, never accepts it.
  await (await opened(dir, { createIndex: 'never' })).close();
});

test('a missing dir: made with a new index by default and with empty, refused with never', async (t) => {
  const parent = await tempDir(t);
  for (const createIndex of [undefined, 'empty'] as const) {
    const dir = join(parent, `new-${createIndex ?? 'default'}`);
    const store = await opened(dir, createIndex === undefined ? {} : { createIndex });
    await store.close();
    assert.deepEqual((await readdir(dir)).sort(), ['CONTROL', 'segment-0000000001.log']);
  }
  const never = join(parent, 'never');
  await assert.rejects(opened(never, { createIndex: 'never' }), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_NO_INDEX'), String(err));
    assert.match(err.message, /does not exist and --create-index is never/);
    return true;
  });
  // Nothing was made: no dir, and no half-built one beside it.
  assert.deepEqual((await readdir(parent)).sort(), ['new-default', 'new-empty']);
});

test('a missing dir inside a dir holding an index is not made (the image before its data dir moved to a subdirectory)', async (t) => {
  const volume = await newDataDir(t);
  await twoRuns(volume);
  const dir = join(volume, 'data');
  await assert.rejects(opened(dir), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_NO_INDEX'), String(err));
    assert.match(
      err.message,
      /its parent .* holds an index \(CONTROL, segment-0000000001\.log.*pass --data-dir /,
    );
    return true;
  });
  assert.equal((await readdir(volume)).includes('data'), false);
  assert.equal((await readdir(volume)).includes('data.creating'), false);
});

test('a creation killed before the rename leaves no data dir; the next start takes the half-built one over', async (t) => {
  const parent = await tempDir(t);
  const dir = join(parent, 'data');
  // What a process killed while building the index leaves: the sibling, a control record half-written.
  await mkdir(`${dir}.creating`);
  await writeFile(join(`${dir}.creating`, 'CONTROL.tmp'), 'x');
  const store = await opened(dir);
  await send(store, { verb: Verb.INDEX, name: 'a', deps: [] });
  await store.close();
  assert.deepEqual((await readdir(parent)).sort(), ['data']);
  // A sibling holding anything else is not ours to take over.
  const other = join(parent, 'other');
  await mkdir(`${other}.creating`);
  await writeFile(join(`${other}.creating`, 'notes.txt'), 'mine');
  await assert.rejects(opened(other), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_NO_INDEX'), String(err));
    assert.match(err.message, /other\.creating.*holds other files \(notes\.txt\); move it away/);
    return true;
  });
});

// Issue 11 (notes): an emptied data dir silently became a new, empty index. What an operator
// deleting the data files leaves behind (the control record, the LOCK file of an owner killed
// -9, a temporary file of the store) now says an index was there; only a dir with nothing of
// the store's in it is a new index.
test('an emptied dir with a trace of its index is refused by default; a brand-new one is a new index', async (t) => {
  const traces: [string, string, RegExp][] = [
    [
      'CONTROL',
      '',
      /holds a control record but no snapshot and no log segment: the index's files were deleted/,
    ],
    [
      'LOCK',
      '4194303\n',
      /the LOCK file left by pid 4194303 \(which ended without a clean stop\) shows that one was kept there/,
    ],
    ['CONTROL.tmp', 'x', /CONTROL\.tmp \(a temporary file of the store\) shows that one was kept there/],
  ];
  for (const [keep, content, message] of traces) {
    const dir = await newDataDir(t);
    await twoRuns(dir);
    for (const name of await readdir(dir)) if (name !== keep) await unlink(join(dir, name));
    if (content !== '') await writeFile(join(dir, keep), content);
    await assert.rejects(opened(dir), (err: unknown) => {
      assert.ok(isPkgIndexError(err, 'E_STORAGE_DATA_LOSS'), `${keep}: ${String(err)}`);
      assert.match(err.message, message);
      assert.match(err.message, /Restore the data dir from a backup, or start with --accept-data-loss/);
      return true;
    });
    assert.deepEqual(await readdir(dir), [keep], 'a refused start changes nothing');
    // Accepted once: a new, empty index, and the next start needs no flag.
    const accepted = await opened(dir, { acceptDataLoss: true });
    assert.equal(accepted.stats().packages, 0);
    await accepted.close();
    await (await opened(dir, { createIndex: 'never' })).close();
  }

  // Brand-new: a missing dir, or an empty one, is a new index; the pid file is written only
  // once the index exists, so a store killed while creating one leaves no false trace.
  const fresh = join(await tempDir(t), 'new');
  const store = await opened(fresh);
  assert.deepEqual((await readdir(fresh)).sort(), ['CONTROL', 'LOCK', 'segment-0000000001.log']);
  await store.close();

  // The same through the real server: exit 2, the message says what to do.
  const dir = await newDataDir(t);
  await twoRuns(dir);
  for (const name of await segments(dir)) await unlink(join(dir, name));
  const result = await runCli(['serve', '--data-dir', dir, '--port', '0', '--admin=false']);
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /the index's files were deleted.*Restore the data dir from a backup.*\[E_STORAGE_DATA_LOSS\]/s,
  );
});

test('a truncated last segment after a clean stop is data loss, wherever it is cut', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  const path = segmentPath(dir, 2);
  const whole = await readFile(path);
  const starts: number[] = [];
  scanFrames(whole, HEADER_BYTES, (_p, offset) => starts.push(offset));
  for (const cut of [10, HEADER_BYTES, starts[150]!, starts[150]! + 5, whole.length - 1]) {
    await truncate(path, cut);
    await refused(dir, 'segment-0000000002.log');
    await appendFile(path, whole.subarray(cut));
  }
  const store = await opened(dir);
  assert.equal(store.stats().packages, 600);
  await store.close();
});

test('a sealed segment cut at a record boundary is data loss (it used to pass as a shorter log)', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  // Reopened once more: segment 2 is sealed too, with its size in the control record.
  await (await opened(dir)).close();
  const path = segmentPath(dir, 2);
  const whole = await readFile(path);
  const starts: number[] = [];
  scanFrames(whole, HEADER_BYTES, (_p, offset) => starts.push(offset));
  await truncate(path, starts[200]);
  await refused(dir, 'segment-0000000002.log');
});

test('a torn tail after a crash is still cut silently', async (t) => {
  const dir = await newDataDir(t);
  const crashed = await newDataDir(t);
  const store = await opened(dir);
  for (let i = 0; i < 50; i++)
    assert.equal(await send(store, { verb: Verb.INDEX, name: `p${i}`, deps: [] }), Reply.OK);
  // The files as a kill -9 now would leave them, plus half a record being written.
  await cp(dir, crashed, { recursive: true });
  await store.close();
  await unlink(join(crashed, 'LOCK')).catch(() => undefined);
  const [last] = (await segments(crashed)).slice(-1);
  // Where the next record would go: past the last one, over the zeros the writer keeps ahead.
  const log = await readFile(join(crashed, last!));
  const end = scanFrames(log, HEADER_BYTES, () => undefined).end;
  const file = await open(join(crashed, last!), 'r+');
  await file.write(Buffer.from([40, 0, 0, 0, 1, 2, 3]), 0, 7, end);
  await file.close();
  const events: RecoveryEvent[] = [];
  const listener = (m: unknown): void => void events.push(m as RecoveryEvent);
  diagnostics_channel.subscribe(StoreChannel.RECOVERY, listener);
  t.after(() => diagnostics_channel.unsubscribe(StoreChannel.RECOVERY, listener));
  const again = await opened(crashed);
  assert.equal(again.stats().packages, 50);
  await again.close();
  const mine = events.find((e) => e.storeId === again.id)!;
  assert.equal(mine.truncatedBytes, 7);
  assert.deepEqual(mine.dataLoss, []);
});

test('--accept-data-loss starts on what is left, says what was lost, and records the new state', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  await unlink(segmentPath(dir, 2));
  const events: RecoveryEvent[] = [];
  const listener = (m: unknown): void => void events.push(m as RecoveryEvent);
  diagnostics_channel.subscribe(StoreChannel.RECOVERY, listener);
  t.after(() => diagnostics_channel.unsubscribe(StoreChannel.RECOVERY, listener));
  const store = await opened(dir, { acceptDataLoss: true });
  assert.equal(store.stats().packages, 300);
  assert.equal(await send(store, { verb: Verb.INDEX, name: 'after', deps: [] }), Reply.OK);
  await store.close();
  const mine = events.find((e) => e.storeId === store.id)!;
  assert.match(mine.dataLoss?.join() ?? '', /segment-0000000002\.log is missing/);
  // The loss was accepted once: the next start needs no flag.
  const again = await opened(dir);
  assert.equal(again.stats().packages, 301);
  await again.close();
});

test('pkgindex serve refuses a data dir with lost data: exit 2, a fatal JSON event naming the file', async (t) => {
  const dir = await newDataDir(t);
  await twoRuns(dir);
  await unlink(segmentPath(dir, 2));
  const result = await runCli(['serve', '--data-dir', dir, '--port', '0', '--admin=false']);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /segment-0000000002\.log is missing.*\[E_STORAGE_DATA_LOSS\]/);
  const fatal = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; err?: { code?: string } })
    .find((e) => e.level === 60);
  assert.equal(fatal?.err?.code, 'E_STORAGE_DATA_LOSS');
});
