import { test } from 'node:test';
import diagnostics_channel from 'node:diagnostics_channel';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { Verb, type Command } from '../../src/protocol/command.js';
import { Reply } from '../../src/protocol/reply.js';
import { DiskStore, type DiskStoreOptions } from '../../src/store/disk-store.js';
import type { Compactor } from '../../src/store/compaction.js';
import { segmentPath } from '../../src/store/data-dir-files.js';
import { HEADER_BYTES } from '../../src/store/format/file-header.js';
import { scanFrames } from '../../src/store/format/frame.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { StoreChannel, type ZeroingEvent } from '../../src/store/store-events.js';
import { FaultFs } from '../support/fault-fs.js';
import { inlineCompactor } from '../support/inline-compactor.js';
import { newDataDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';

// The durable log zeroes its segment ahead of the records and syncs the zeros, so that a group
// commit overwrites blocks the file has (log-writer.ts, docs/adr/0021). What must hold: every
// acknowledged record survives; zeros are never written over records; a segment at rest (sealed
// or closed) ends with its records; zeros past the records are no torn tail; and a disk without
// room for the zeros still takes records.

const STEP = 4096;

const index = (i: number): Command => ({
  verb: Verb.INDEX,
  name: `package-${i}`,
  deps: i > 0 ? [`package-${i - 1}`] : [],
});

interface Segment {
  readonly seq: number;
  readonly size: number;
  /** Where its valid records end. */
  readonly end: number;
  readonly zerosPast: boolean;
}

async function segmentOf(dir: string, seq: number): Promise<Segment> {
  const bytes = await readFile(segmentPath(dir, seq));
  const end = scanFrames(bytes, HEADER_BYTES, () => undefined).end;
  return { seq, size: bytes.length, end, zerosPast: bytes.subarray(end).every((b) => b === 0) };
}

async function liveSegment(dir: string): Promise<Segment> {
  const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
  return segmentOf(dir, Number(/(\d+)\.log$/.exec(logs.at(-1)!)![1]));
}

function storeOn(dir: string, fs: FaultFs, options: Partial<DiskStoreOptions> = {}): DiskStore {
  return new DiskStore({
    dataDir: dir,
    fs,
    compactor: inlineCompactor(fs),
    retryMinMs: 5,
    preallocateBytes: STEP,
    ...options,
  });
}

test('commits overwrite the zeros ahead; sealed and closed segments end with their records', async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  // Each sealed segment as compaction finds it, before it folds it.
  const sealed: Segment[] = [];
  const inline = inlineCompactor(fs);
  const compactor: Compactor = async (job, context) => {
    for (let seq = job.fromSeq; seq <= job.toSeq; seq++) sealed.push(await segmentOf(dir, seq));
    return inline(job, context);
  };
  const store = storeOn(dir, fs, { compactAfterBytes: 24 * 1024, compactor });
  await store.open();
  const sizes = new Set<number>();
  const n = 2000;
  for (let i = 0; i < n; i++) {
    assert.equal(await send(store, index(i)), Reply.OK);
    const live = await liveSegment(dir);
    sizes.add(live.size);
    assert.ok(live.zerosPast, `record ${i}: only zeros past the records`);
  }
  // The file grew by steps of zeros, not by a commit's bytes each time.
  assert.ok(sizes.size < n / 20, `${sizes.size} sizes for ${n} commits`);
  const live = await liveSegment(dir);
  assert.ok(live.size > live.end, 'zeros ahead of the records while the store is open');
  assert.ok(sealed.length >= 2, `${sealed.length} sealed segments`);
  for (const s of sealed) assert.equal(s.size, s.end, `sealed segment ${s.seq} ends with its records`);
  await store.close();
  const closed = await segmentOf(dir, live.seq);
  assert.equal(closed.size, closed.end, 'a closed segment ends with its records');
  const recovered = await recover(new NodeFs(), dir, { repair: false });
  assert.equal(recovered.graph.size, n);
  assert.equal(recovered.truncatedBytes, 0);
});

test('a power loss with zeros ahead keeps every acknowledged record and finds no torn tail', async (t) => {
  for (const mode of ['drop', 'tear'] as const) {
    const dir = await newDataDir(t);
    const fs = new FaultFs();
    const store = storeOn(dir, fs);
    await store.open();
    let acked = 0;
    for (let i = 0; i < 300; i++) if ((await send(store, index(i))) === Reply.OK) acked = i + 1;
    assert.equal(acked, 300);
    await fs.crash(mode);
    await store.close().catch(() => undefined);
    const recovered = await recover(new NodeFs(), dir, { repair: false });
    assert.equal(recovered.graph.size, acked, mode);
    assert.equal(recovered.truncatedBytes, 0, `${mode}: zeros past the records are no torn tail`);
  }
});

test('a commit that reaches the bytes being zeroed waits for the zeros, and keeps its record', async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  const store = storeOn(dir, fs);
  await store.open();
  t.after(() => store.close());
  // The first zeroing after the segment's own: held on its way to the disk.
  const hold = fs.hold('write', '.log', true);
  const zeroing = { held: false };
  void hold.reached.then(() => {
    zeroing.held = true;
  });
  let i = 0;
  const first = await liveSegment(dir);
  while (!zeroing.held) assert.equal(await send(store, index(i++)), Reply.OK);
  // Commits go on below the held zeros, until one would reach them: that one waits.
  let waiting: Promise<Reply> | null = null;
  for (; i < 10_000 && waiting === null; i++) {
    const sent = send(store, index(i));
    const settled = await Promise.race([
      sent,
      new Promise<null>((resolve) => {
        setTimeout(() => {
          resolve(null);
        }, 50);
      }),
    ]);
    if (settled === null) waiting = sent;
    else assert.equal(settled, Reply.OK);
  }
  assert.notEqual(waiting, null, 'no commit reached the bytes being zeroed');
  const still = await Promise.race([
    waiting!.then(() => 'answered'),
    new Promise((resolve) => {
      setTimeout(() => {
        resolve('waiting');
      }, 200);
    }),
  ]);
  assert.equal(still, 'waiting', 'a commit that reaches the held zeros waits for them');
  const during = await liveSegment(dir);
  assert.ok(during.end <= first.size, `records end at ${during.end}, the zeros start at ${first.size}`);
  hold.release();
  assert.equal(await waiting, Reply.OK);
  await store.close();
  const recovered = await recover(new NodeFs(), dir, { repair: false });
  assert.equal(recovered.graph.size, i);
});

test('without room for the zeros, the log takes its records as it did before zeroing', async (t) => {
  const dir = await newDataDir(t);
  const fs = new FaultFs();
  // Every write of the log's zeros fails, as on a full disk; the records' writes do not.
  fs.inject({ op: 'write', path: '.log', code: 'ENOSPC', zeros: true, times: Infinity });
  const store = storeOn(dir, fs);
  const stopped: ZeroingEvent[] = [];
  const listener = (m: unknown): void => {
    if ((m as ZeroingEvent).storeId === store.id) stopped.push(m as ZeroingEvent);
  };
  diagnostics_channel.subscribe(StoreChannel.ZEROING, listener);
  t.after(() => diagnostics_channel.unsubscribe(StoreChannel.ZEROING, listener));
  await store.open();
  for (let i = 0; i < 500; i++) {
    assert.equal(await send(store, index(i)), Reply.OK);
    const live = await liveSegment(dir);
    assert.equal(live.size, live.end, `record ${i}: the file ends with its records`);
  }
  await store.close();
  // Said once, for the segment whose zeros found no room: the operator learns why its log grows.
  assert.equal(stopped.length, 1);
  assert.match(stopped[0]!.detail, /ENOSPC/);
  assert.equal(stopped[0]!.path, segmentPath(dir, 1));
  assert.equal((await stat(segmentPath(dir, 1))).size > HEADER_BYTES, true);
  const recovered = await recover(new NodeFs(), dir, { repair: false });
  assert.equal(recovered.graph.size, 500);
});
