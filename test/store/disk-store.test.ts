import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import diagnostics_channel from 'node:diagnostics_channel';
import { isPkgIndexError } from '../../src/errors.js';
import { Verb } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { FaultFs } from '../support/fault-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { recover } from '../../src/store/recover.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { StoreChannel } from '../../src/store/store-events.js';
import { newDataDir, tempDir } from './support/tmp-dir.js';
import { Harness, sendAll, stateOf } from './support/store-harness.js';
import { until } from '../support/until.js';

const index = (name: string, ...deps: string[]) => ({ verb: Verb.INDEX, name, deps }) as const;
const remove = (name: string) => ({ verb: Verb.REMOVE, name }) as const;
const query = (name: string) => ({ verb: Verb.QUERY, name }) as const;

function collect<T>(t: { after: (fn: () => void) => void }, channel: string): T[] {
  const events: T[] = [];
  const listener = (message: unknown): void => {
    events.push(message as T);
  };
  diagnostics_channel.subscribe(channel, listener);
  t.after(() => diagnostics_channel.unsubscribe(channel, listener));
  return events;
}

for (const syncMode of ['durable', 'relaxed'] as const) {
  test(`${syncMode}: the index survives close and reopen`, { timeout: 60_000 }, async (t) => {
    const dir = await newDataDir(t);
    const store = new DiskStore({ dataDir: dir, syncMode, syncIntervalMs: 5 });
    await store.open();
    assert.deepEqual(store.health(), { recovered: true, writable: true });
    const replies = await sendAll(store, [
      index('a'),
      index('b', 'a'),
      index('c', 'a', 'b'),
      index('b'),
      remove('c'),
      index('x', 'missing'),
      remove('a'),
      query('b'),
    ]);
    assert.deepEqual(replies, [
      Reply.OK,
      Reply.OK,
      Reply.OK,
      Reply.OK,
      Reply.OK,
      Reply.FAIL,
      Reply.OK,
      Reply.OK,
    ]);
    await store.close();
    await store.close();

    const again = new DiskStore({ dataDir: dir, syncMode });
    await again.open();
    assert.deepEqual(again.stats(), { packages: 1, edges: 0 });
    assert.equal(again.execute(query('a')), Reply.FAIL);
    await again.close();
    // What the data dir holds, read offline: `b` alone, with the dependencies of its last INDEX.
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    assert.deepEqual(stateOf(graph), ['b|']);
  });
}

test('QUERY, FAIL and no-op OK write nothing and need no barrier', { timeout: 60_000 }, async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  const store = new DiskStore({ dataDir: dir, fs, compactor: inlineCompactor(fs) });
  await store.open();
  await sendAll(store, [index('a'), index('b', 'a')]);
  const writes = fs.count('write');
  const syncs = fs.count('datasync');
  for (const command of [
    query('a'),
    query('zz'),
    index('b', 'a'),
    index('c', 'nope'),
    remove('a'),
    remove('zz'),
  ]) {
    store.execute(command);
    assert.equal(store.barrier(), null);
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(fs.count('write'), writes);
  assert.equal(fs.count('datasync'), syncs);
  await store.close();
});

test(
  'concurrent clients share syncs (group commit) and every OK is on disk',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const syncs = collect<{ records: number; bytes: number; durationMs: number }>(t, StoreChannel.SYNC);
    const store = new DiskStore({ dataDir: dir });
    await store.open();
    const harness = new Harness(store, 200);
    await harness.run(7, 50, 3000);
    const changed = harness.executed.length;
    assert.ok(harness.executed.every((e) => e.acked));
    await store.close();
    const records = syncs.reduce((n, e) => n + e.records, 0);
    assert.equal(records, changed);
    assert.ok(syncs.length < changed / 2, `${syncs.length} syncs for ${changed} records`);
    assert.ok(syncs.every((e) => e.bytes > 0 && e.durationMs >= 0));
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    assert.deepEqual(stateOf(graph), stateOf(harness.model));
  },
);

test(
  'compaction in a worker thread folds sealed segments into a snapshot, state unchanged',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const compactions = collect<{ durationMs: number; snapshotBytes: number; segmentsDropped: number }>(
      t,
      StoreChannel.COMPACTION,
    );
    const recoveries = collect<{ packages: number; records: number; truncatedBytes: number }>(
      t,
      StoreChannel.RECOVERY,
    );
    const store = new DiskStore({ dataDir: dir, compactAfterBytes: 4096 });
    await store.open();
    const harness = new Harness(store, 300);
    await harness.run(3, 20, 4000);
    await until('a compaction', () => compactions.length > 0, 20_000);
    await store.close();
    assert.ok(compactions[0]!.snapshotBytes > 16 && compactions[0]!.segmentsDropped >= 1);
    const files = await readdir(dir);
    assert.equal(files.filter((f) => f.endsWith('.snap')).length, 1, files.join(' '));
    assert.ok(files.filter((f) => f.endsWith('.log')).length < 10, files.join(' '));

    const again = new DiskStore({ dataDir: dir });
    await again.open();
    const { graph } = await recover(new NodeFs(), dir, { repair: false });
    assert.deepEqual(stateOf(graph), stateOf(harness.model));
    assert.deepEqual(again.stats(), harness.model.stats());
    assert.equal(recoveries.at(-1)!.packages, harness.model.size);
    await again.close();
  },
);

test('compaction survives failures of its own and is retried', { timeout: 60_000 }, async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  fs.inject({ op: 'rename', path: '.snap', times: 2 });
  const store = new DiskStore({ dataDir: dir, fs, compactor: inlineCompactor(fs), compactAfterBytes: 4096 });
  await store.open();
  const harness = new Harness(store, 100);
  await harness.run(5, 10, 6000);
  await store.close();
  assert.ok(fs.count('rename') >= 3, `renames: ${fs.count('rename')}`);
  const files = await readdir(dir);
  assert.equal(files.filter((f) => f.endsWith('.tmp')).length, 0);
  const { graph } = await recover(new NodeFs(), dir, { repair: false });
  assert.deepEqual(stateOf(graph), stateOf(harness.model));
});

test(
  'relaxed mode acknowledges after the write and syncs within the interval',
  { timeout: 60_000 },
  async (t) => {
    const dir = await newDataDir(t);
    const syncs = collect<{ records: number }>(t, StoreChannel.SYNC);
    const fs = new FaultFs();
    const store = new DiskStore({ dataDir: dir, fs, syncMode: 'relaxed', syncIntervalMs: 30 });
    await store.open();
    const syncsBefore = fs.count('datasync');
    const started = performance.now();
    assert.deepEqual(await sendAll(store, [index('a'), index('b', 'a'), remove('b')]), [
      Reply.OK,
      Reply.OK,
      Reply.OK,
    ]);
    assert.equal(fs.count('datasync'), syncsBefore, 'acknowledged before any sync');
    await until('a sync', () => syncs.length > 0, 5000);
    assert.ok(performance.now() - started >= 25, 'synced no sooner than the interval');
    assert.equal(
      syncs.reduce((n, e) => n + e.records, 0),
      3,
    );
    await store.close();
  },
);

test('a data dir that cannot be created is a clear startup error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(`${dir}/file`, '');
  const store = new DiskStore({ dataDir: `${dir}/file/data` });
  await assert.rejects(store.open(), {
    code: 'E_STORAGE_IO',
    message:
      /^cannot use data dir .*\/file\/data \(ENOTDIR.*pass --data-dir with a directory this user can write/,
  });
});

test('a data file that cannot be read stops startup with E_STORAGE_IO and the system error as its cause', async (t) => {
  const dir = await tempDir(t);
  await mkdir(`${dir}/segment-0000000001.log`);
  const store = new DiskStore({ dataDir: dir });
  await assert.rejects(store.open(), (err: unknown) => {
    assert.ok(isPkgIndexError(err, 'E_STORAGE_IO'), String(err));
    assert.match(
      err.message,
      /^cannot read data dir .* \(EISDIR.*\); check that this user can read every file in it$/,
    );
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'EISDIR');
    return true;
  });
  // The lock was released: the dir can be opened once the file is fixed.
  await store.close();
});
