import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat, writeFile, readFile } from 'node:fs/promises';
import { isPkgIndexError } from '../../src/errors.js';
import { Verb, type Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DependencyGraph } from '../../src/graph/dependency-graph.js';
import { applyCommand } from '../../src/store/apply-command.js';
import { DiskStore, MAX_SEALED_WHILE_COMPACTING } from '../../src/store/disk-store.js';
import { foldSnapshot, type Compactor } from '../../src/store/compaction.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import type { StorageFile } from '../../src/store/fs/storage-fs.js';
import { recover } from '../../src/store/recover.js';
import { newDataDir } from './support/tmp-dir.js';
import { send, stateOf } from './support/workload.js';

const fs = new NodeFs();
const DEPS = Array.from({ length: 30 }, (_, i) => `dependency-${i}`);

/** Re-INDEX commands with long dependency lists, as the reproduction sent them. */
function* reindexes(count: number): Generator<Command> {
  for (let i = 0; i < count; i++) {
    const from = i % 7;
    yield { verb: Verb.INDEX, name: `pkg-${i % 50}`, deps: DEPS.slice(from, from + 20 + (i % 5)) };
  }
}

/**
 * Drives the store the way the server does under pipelining clients: every turn of the event
 * loop executes another batch, whatever is still being written, so the writer is never idle;
 * like connections that pause while their replies pile up, at most `depth` batches wait.
 * Returns the model state of the acknowledged commands.
 */
async function pipelined(
  store: DiskStore,
  commands: Iterable<Command>,
  batch = 20,
  depth = 4,
): Promise<DependencyGraph> {
  const model = new DependencyGraph();
  for (const dep of DEPS) {
    assert.equal(await send(store, { verb: Verb.INDEX, name: dep, deps: [] }), Reply.OK);
    applyCommand(model, { verb: Verb.INDEX, name: dep, deps: [] });
  }
  const barriers: Promise<unknown>[] = [];
  let inBatch = 0;
  for (const command of commands) {
    assert.equal(store.execute(command), Reply.OK);
    applyCommand(model, command);
    if (++inBatch === batch) {
      inBatch = 0;
      const barrier = store.barrier();
      if (barrier !== null) barriers.push(barrier);
      if (barriers.length > depth) await barriers.shift();
      await new Promise(setImmediate);
    }
  }
  const last = store.barrier();
  if (last !== null) barriers.push(last);
  await Promise.all(barriers);
  return model;
}

/** Compacts inline, recording the size of every segment handed to it. */
function recordingCompactor(dir: string, sizes: number[], hold?: Promise<void>): Compactor {
  return async (job) => {
    for (let seq = job.fromSeq; seq <= job.toSeq; seq++) sizes.push((await stat(segmentPath(dir, seq))).size);
    await hold;
    return foldSnapshot(fs, job);
  };
}

test('under sustained pipelined writes the log rotates at the threshold and compaction folds it', async (t) => {
  const dir = await newDataDir(t);
  const threshold = 32 * 1024;
  const sizes: number[] = [];
  const store = new DiskStore({
    dataDir: dir,
    compactAfterBytes: threshold,
    compactor: recordingCompactor(dir, sizes),
  });
  await store.open();
  // About 1 MB of log: 30 segments at the threshold.
  const model = await pipelined(store, reindexes(16_000));
  await store.close();
  // Before the fix the writer, never idle, kept everything in one segment and never compacted.
  assert.ok(sizes.length >= 20, `only ${sizes.length} segments were sealed and compacted`);
  const biggest = Math.max(...sizes);
  // A segment ends at the first group written past the threshold: near it, not far beyond.
  assert.ok(biggest < 2 * threshold, `a sealed segment of ${biggest} bytes (threshold ${threshold})`);
  assert.ok(
    sizes.slice(0, -1).every((size) => size >= threshold),
    'a segment was sealed before reaching the threshold',
  );
  const files = (await readdir(dir)).filter((name) => name.endsWith('.log'));
  assert.ok(files.length <= MAX_SEALED_WHILE_COMPACTING + 2, `left ${files.join(' ')}`);
  const recovered = await recover(fs, dir, { repair: false });
  assert.deepEqual(stateOf(recovered.graph), stateOf(model));
});

test('the bound of the docs: a compaction folding the segments that waited lets as many more wait, 2 × MAX_SEALED_WHILE_COMPACTING + 1 segment files', async (t) => {
  const dir = await newDataDir(t);
  const threshold = 16 * 1024;
  // Every compaction is held until released: the first folds one segment, the second the
  // segments that waited behind the first.
  const releases: (() => void)[] = [];
  const folded: number[] = [];
  const store = new DiskStore({
    dataDir: dir,
    compactAfterBytes: threshold,
    compactor: async (job) => {
      folded.push(job.toSeq - job.fromSeq + 1);
      await new Promise<void>((resolve) => releases.push(resolve));
      return foldSnapshot(fs, job);
    },
  });
  await store.open();
  let most = 0;
  const writes = { done: false };
  const writing = pipelined(store, reindexes(12000)).finally(() => (writes.done = true));
  const watch = async (until: () => boolean): Promise<void> => {
    while (!until() && !writes.done) {
      most = Math.max(most, (await readdir(dir)).filter((name) => name.endsWith('.log')).length);
      await new Promise(setImmediate);
    }
  };
  await watch(() => store.backpressureWaits >= 1);
  releases.shift()!();
  await watch(() => store.backpressureWaits >= 2);
  for (let i = 0; i < 20; i++) await watch(() => true);
  assert.equal(writes.done, false, 'the writers finished without being held back twice');
  assert.deepEqual(folded, [1, MAX_SEALED_WHILE_COMPACTING]);
  most = Math.max(most, (await readdir(dir)).filter((name) => name.endsWith('.log')).length);
  assert.equal(most, 2 * MAX_SEALED_WHILE_COMPACTING + 1, 'folded, waiting, and the current one');
  // Released one by one until the writers are done (a function: the assert above narrowed it).
  const finished = (): boolean => writes.done;
  while (!finished()) {
    releases.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const model = await writing;
  for (const release of releases) release();
  await store.close();
  const recovered = await recover(fs, dir, { repair: false });
  assert.deepEqual(stateOf(recovered.graph), stateOf(model));
});

test('writers wait while compaction cannot keep up: the log stays bounded and nothing is lost', async (t) => {
  const dir = await newDataDir(t);
  const threshold = 16 * 1024;
  const sizes: number[] = [];
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const store = new DiskStore({
    dataDir: dir,
    compactAfterBytes: threshold,
    compactor: recordingCompactor(dir, sizes, hold),
  });
  await store.open();
  let most = 0;
  const writes = { done: false };
  const writing = pipelined(store, reindexes(6000)).finally(() => (writes.done = true));
  // Watch the directory while compaction is held: the number of segments must stay bounded.
  while (store.backpressureWaits === 0 && !writes.done) {
    most = Math.max(most, (await readdir(dir)).filter((name) => name.endsWith('.log')).length);
    await new Promise(setImmediate);
  }
  assert.equal(writes.done, false, 'the writers finished without ever being held back');
  for (let i = 0; i < 20; i++) {
    most = Math.max(most, (await readdir(dir)).filter((name) => name.endsWith('.log')).length);
    await new Promise(setImmediate);
  }
  assert.equal(writes.done, false, 'writes were acknowledged while compaction was held');
  // One segment in the held compaction, the ones waiting behind it, and the current one.
  assert.ok(most <= 1 + MAX_SEALED_WHILE_COMPACTING + 1, `${most} segments while compaction was held`);
  release();
  const model = await writing;
  await store.close();
  const recovered = await recover(fs, dir, { repair: false });
  assert.deepEqual(stateOf(recovered.graph), stateOf(model));
});

/** The real file system, refusing whole-file reads and recording the largest read. */
class BoundedReadFs extends NodeFs {
  largestRead = 0;
  override readFile(path: string): Promise<Buffer> {
    return Promise.reject(new TypeError(`readFile(${path}): data files must be streamed`));
  }
  override async open(path: string, mode: 'read' | 'write' | 'create'): Promise<StorageFile> {
    const file = await super.open(path, mode);
    const read = file.read.bind(file);
    file.read = (buffer, position, length) => {
      this.largestRead = Math.max(this.largestRead, length);
      return read(buffer, position, length);
    };
    return file;
  }
}

test('recovery streams a segment much larger than its read buffer, torn tail and damage included', async (t) => {
  const dir = await newDataDir(t);
  const store = new DiskStore({ dataDir: dir, compactAfterBytes: 1 << 30 });
  await store.open();
  const model = await pipelined(store, reindexes(3000));
  // One record larger than the read buffer: the buffer grows for it alone.
  const big = Array.from({ length: 600 }, (_, i) => `big-dep-${i}`);
  for (const dep of big) {
    assert.equal(store.execute({ verb: Verb.INDEX, name: dep, deps: [] }), Reply.OK);
    applyCommand(model, { verb: Verb.INDEX, name: dep, deps: [] });
  }
  assert.equal(await send(store, { verb: Verb.INDEX, name: 'big', deps: big }), Reply.OK);
  applyCommand(model, { verb: Verb.INDEX, name: 'big', deps: big });
  await store.close();
  const [segment] = (await readdir(dir)).filter((name) => name.endsWith('.log'));
  const path = `${dir}/${segment!}`;
  const bytes = await readFile(path);
  assert.ok(bytes.length > 100 * 4096, `segment of ${bytes.length} bytes`);

  const bounded = new BoundedReadFs();
  const recovered = await recover(bounded, dir, { repair: false, readBufferBytes: 4096 });
  assert.deepEqual(stateOf(recovered.graph), stateOf(model));
  assert.ok(bounded.largestRead <= 12 * 1024, `a read of ${bounded.largestRead} bytes`);

  // A torn tail is still found, across buffer boundaries (after this clean stop, as data loss).
  await writeFile(path, bytes.subarray(0, bytes.length - 5));
  const torn = await recover(bounded, dir, { repair: false, readBufferBytes: 4096, acceptDataLoss: true });
  assert.equal(torn.graph.size, model.size - 1);
  assert.ok(torn.truncatedBytes > 0);
  assert.equal(torn.dataLoss.length, 1);

  // Damage followed by frames synced after it is corruption, however far apart they are.
  const damaged = Buffer.from(bytes);
  damaged[20_000] = damaged[20_000]! ^ 0xff;
  await writeFile(path, damaged);
  await assert.rejects(recover(bounded, dir, { repair: false, readBufferBytes: 4096 }), (err: unknown) =>
    isPkgIndexError(err, 'E_STORAGE_CORRUPT'),
  );
});
