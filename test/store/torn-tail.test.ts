import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, appendFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Verb } from '../../src/protocol/command.js';
import { DiskStore } from '../../src/store/disk-store.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';
import { recover } from '../../src/store/recover.js';
import { FORMAT_VERSION, HEADER_BYTES } from '../../src/store/format/file-header.js';
import { writeControl } from '../../src/store/control-file.js';
import { crc32 } from '../../src/store/format/crc32.js';
import { FRAME_HEADER_BYTES, scanFrames } from '../../src/store/format/frame.js';
import { RecordBuffer } from '../../src/store/format/record-buffer.js';
import { newDataDir } from './support/tmp-dir.js';
import { send } from './support/workload.js';

const fs = new NodeFs();

/**
 * A data dir whose one segment holds INDEX p0..p(n-1), each synced on its own, as a crash
 * leaves it: the control record claims the segment's header only (a clean stop would claim
 * the whole segment, and a shorter one would then be data loss: control-record.test.ts).
 */
async function logOf(dir: string, n: number): Promise<{ path: string; bytes: Buffer; starts: number[] }> {
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  for (let i = 0; i < n; i++)
    await send(store, { verb: Verb.INDEX, name: `p${i}`, deps: i > 0 ? [`p${i - 1}`] : [] });
  await store.close();
  await writeControl(
    fs,
    dir,
    { snapshotSeq: 0, sealed: [], currentSeq: 1, currentBytes: HEADER_BYTES, clean: false },
    1,
  );
  const name = (await readdir(dir)).find((f) => f.endsWith('.log'))!;
  const path = join(dir, name);
  const bytes = await readFile(path);
  const starts: number[] = [];
  scanFrames(bytes, HEADER_BYTES, (_p, offset) => starts.push(offset));
  return { path, bytes, starts };
}

function trailingZeros(bytes: Buffer): number {
  let n = 0;
  while (n < bytes.length && bytes[bytes.length - 1 - n] === 0) n++;
  return n;
}

test('a log cut at every byte offset of its last records recovers every whole record before the cut', async (t) => {
  const dir = await newDataDir(t);
  const { path, bytes, starts } = await logOf(dir, 8);
  assert.equal(starts.length, 8);
  for (let cut = starts[5]!; cut <= bytes.length; cut++) {
    await writeFile(path, bytes.subarray(0, cut));
    const whole = starts.filter((_, i) => (starts[i + 1] ?? bytes.length) <= cut).length;
    const recovered = await recover(fs, dir, { repair: false });
    assert.equal(recovered.graph.size, whole, `cut at ${cut}`);
    // The torn tail up to its last byte that is not zero: zeros past the records are the
    // space a durable writer zeroes ahead (log-writer.ts), not a tail.
    const torn = bytes.subarray(starts[whole] ?? bytes.length, cut);
    assert.equal(recovered.truncatedBytes, torn.length - trailingZeros(torn), `cut at ${cut}`);
  }
  // With repair the tail is cut off for good and the store goes on appending after it.
  await writeFile(path, bytes.subarray(0, bytes.length - 3));
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  assert.equal(store.stats().packages, 7);
  await send(store, { verb: Verb.INDEX, name: 'after', deps: ['p6'] });
  await store.close();
  assert.equal((await readFile(path)).length, starts[7]);
  const again = await recover(fs, dir, { repair: false });
  assert.equal(again.graph.size, 8);
  assert.equal(again.truncatedBytes, 0);
});

test('bad frame headers at the tail are cut off, and a huge length allocates nothing', async (t) => {
  const dir = await newDataDir(t);
  const { path, bytes } = await logOf(dir, 5);
  const header = (length: number, extra = 0): Buffer => {
    const h = Buffer.alloc(FRAME_HEADER_BYTES + extra);
    h.writeUInt32LE(length, 0);
    return h;
  };
  const badChecksum = (): Buffer => {
    const records = new RecordBuffer();
    records.appendIndex('bad', []);
    const frame = Buffer.from(records.seal(bytes.length));
    frame.writeUInt32LE(frame.readUInt32LE(4) ^ 1, 4);
    return frame;
  };
  const tails: [string, Buffer][] = [
    ['zero length', header(0, 40)],
    ['2 GiB length', header(0x80000000, 40)],
    ['4 GiB - 1 length', header(0xffffffff)],
    ['length past the end', header(500, 10)],
    ['short header', Buffer.from([9, 0, 0])],
    ['bad checksum', badChecksum()],
  ];
  for (const [what, tail] of tails) {
    await writeFile(path, Buffer.concat([bytes, tail]));
    const rss = process.memoryUsage().rss;
    const recovered = await recover(fs, dir, { repair: false });
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, `${what}: memory grew`);
    assert.equal(recovered.graph.size, 5, what);
    // Cut whole; counted up to its last byte that is not zero (zeros past the records are the
    // space a durable writer zeroes ahead, log-writer.ts): none at all for the zero length.
    assert.equal(recovered.truncatedBytes, tail.length - trailingZeros(tail), what);
  }
});

test('damage in the middle of the log is refused, naming the file and the offset', async (t) => {
  const dir = await newDataDir(t);
  const { path, bytes, starts } = await logOf(dir, 6);
  const damaged = Buffer.from(bytes);
  damaged[starts[2]! + FRAME_HEADER_BYTES + 1]! ^= 0x40;
  await writeFile(path, damaged);
  await assert.rejects(recover(fs, dir, { repair: false }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_STORAGE_CORRUPT');
    assert.ok(err.message.includes(path), err.message);
    assert.ok(err.message.includes(`offset ${starts[2]}`), err.message);
    return true;
  });
  // The server refuses to start rather than serve an index with a hole in it.
  const store = new DiskStore({ dataDir: dir });
  await assert.rejects(store.open(), { code: 'E_STORAGE_CORRUPT' });
  await store.close();
});

test('any damage in a sealed segment, a gap in the segments or a damaged snapshot is refused', async (t) => {
  const dir = await newDataDir(t);
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  await send(store, { verb: Verb.INDEX, name: 'a', deps: [] });
  await store.close();
  const reopened = new DiskStore({ dataDir: dir });
  await reopened.open();
  await send(reopened, { verb: Verb.INDEX, name: 'b', deps: ['a'] });
  await reopened.close();
  const first = join(dir, 'segment-0000000001.log');
  const good = await readFile(first);
  await appendFile(first, Buffer.alloc(3));
  await assert.rejects(recover(fs, dir, { repair: false }), /segment-0000000001\.log: short frame header/);
  await writeFile(first, good);
  await unlink(first);
  await assert.rejects(recover(fs, dir, { repair: false }), /segment 1 is missing/);
  await writeFile(first, good);

  const snapshot = join(dir, 'snapshot-0000000001.snap');
  const records = new RecordBuffer();
  records.appendIndex('a', []);
  records.appendEnd(2, 0);
  const header = Buffer.from(await readFile(first)).subarray(0, HEADER_BYTES);
  header.write('PKIS', 0, 'latin1');
  header.writeUInt32LE(crc32(header.subarray(0, 12)), 12);
  await writeFile(snapshot, Buffer.concat([header, records.seal(0)]));
  await assert.rejects(
    recover(fs, dir, { repair: false }),
    /snapshot-0000000001\.snap: package or edge count/,
  );
});

test('a file of a newer format version is refused with a clear message', async (t) => {
  const dir = await newDataDir(t);
  const { path, bytes } = await logOf(dir, 2);
  const newer = Buffer.from(bytes);
  newer.writeUInt32LE(FORMAT_VERSION + 1, 4);
  newer.writeUInt32LE(crc32(newer.subarray(0, 12)), 12);
  await writeFile(path, newer);
  await assert.rejects(recover(fs, dir, { repair: false }), {
    code: 'E_STORAGE_VERSION',
    message: `${path} has format version ${FORMAT_VERSION + 1}, but this pkgindex reads versions up to ${FORMAT_VERSION}; run a newer pkgindex on this data dir`,
  });
});

test('a half-created last segment (crash during rotation) is dropped', async (t) => {
  const dir = await newDataDir(t);
  const { bytes } = await logOf(dir, 3);
  for (const partial of [Buffer.alloc(0), Buffer.alloc(HEADER_BYTES), bytes.subarray(0, 7)]) {
    await writeFile(join(dir, 'segment-0000000002.log'), partial);
    const recovered = await recover(fs, dir, { repair: true });
    assert.equal(recovered.graph.size, 3);
    assert.equal(recovered.nextSeq, 2);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.log')),
      ['segment-0000000001.log'],
    );
  }
});
