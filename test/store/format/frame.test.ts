import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FRAME_HEADER_BYTES, scanFrames, sealFrame } from '../../../src/store/format/frame.js';
import { decodeRecord } from '../../../src/store/format/record.js';
import { RecordBuffer } from '../../../src/store/format/record-buffer.js';

/** Frames for packages p0..p(n-1), written as groups of `perGroup` with a sync between groups. */
function log(n: number, perGroup: number): { bytes: Buffer; starts: number[] } {
  const parts: Buffer[] = [];
  const starts: number[] = [];
  let at = 0;
  for (let i = 0; i < n; i += perGroup) {
    const records = new RecordBuffer();
    for (let j = i; j < Math.min(n, i + perGroup); j++)
      records.appendIndex(`p${j}`, j > 0 ? [`p${j - 1}`] : []);
    const group = Buffer.from(records.seal(at));
    scanFrames(group, 0, (_p, offset) => starts.push(at + offset));
    parts.push(group);
    at += group.length;
  }
  return { bytes: Buffer.concat(parts), starts };
}

function names(buf: Buffer): string[] {
  const out: string[] = [];
  scanFrames(buf, 0, (payload) => {
    const r = decodeRecord(payload);
    if (r?.verb === 'INDEX') out.push(r.name);
  });
  return out;
}

test('frames written by RecordBuffer scan back in order', () => {
  const { bytes } = log(50, 7);
  assert.deepEqual(
    names(bytes),
    Array.from({ length: 50 }, (_, i) => `p${i}`),
  );
  assert.deepEqual(
    scanFrames(bytes, 0, () => undefined),
    { end: bytes.length, bad: null },
  );
});

test('a tail cut at any byte is torn, not corrupt, and keeps every whole frame before it', () => {
  const { bytes, starts } = log(6, 2);
  for (let cut = starts[3]!; cut < bytes.length; cut++) {
    const result = scanFrames(bytes.subarray(0, cut), 0, () => undefined);
    const whole = starts.filter((s, i) => (starts[i + 1] ?? bytes.length) <= cut && s < cut).length;
    assert.equal(result.end, starts[whole] ?? bytes.length, `cut ${cut}`);
    if (result.end < cut) assert.equal(result.bad?.corrupt, false, `cut ${cut}`);
  }
});

test('bad headers at the end are reported as torn with the reason', () => {
  const { bytes } = log(4, 4);
  const cases: [string, Buffer, RegExp][] = [
    ['zero length', Buffer.alloc(FRAME_HEADER_BYTES), /zero frame length/],
    ['2 GiB length', header(0x80000000), /exceeds/],
    ['length past the end', header(1000), /past the end/],
    ['short header', Buffer.from([5, 0, 0, 0, 1]), /short frame header/],
    ['bad checksum', badChecksum(), /checksum mismatch/],
  ];
  for (const [what, tail, reason] of cases) {
    const result = scanFrames(Buffer.concat([bytes, tail]), 0, () => undefined);
    assert.equal(result.end, bytes.length, what);
    assert.match(result.bad?.reason ?? '', reason, what);
    assert.equal(result.bad?.corrupt, false, what);
  }

  function header(length: number): Buffer {
    const h = Buffer.alloc(FRAME_HEADER_BYTES + 8);
    h.writeUInt32LE(length, 0);
    return h;
  }
  function badChecksum(): Buffer {
    const b = new RecordBuffer();
    b.appendRemove('p3');
    const frame = Buffer.from(b.seal(bytes.length));
    frame[frame.length - 1]! ^= 1;
    return frame;
  }
});

test('damage followed by frames synced after it is corruption; within one unsynced write it is not', () => {
  const { bytes, starts } = log(9, 3);
  const synced = Buffer.from(bytes);
  synced[starts[1]! + FRAME_HEADER_BYTES + 2]! ^= 0xff;
  const bad = scanFrames(synced, 0, () => undefined).bad;
  assert.deepEqual(bad, { offset: starts[1], reason: 'checksum mismatch', corrupt: true });

  const sameGroup = Buffer.from(bytes);
  sameGroup[starts[7]! + FRAME_HEADER_BYTES + 2]! ^= 0xff;
  const torn = scanFrames(sameGroup, 0, () => undefined);
  assert.equal(torn.end, starts[7]);
  assert.equal(torn.bad?.corrupt, false);
});

test('sealFrame covers the length with the checksum', () => {
  const b = new RecordBuffer();
  b.appendRemove('x');
  const frame = Buffer.from(b.seal(0));
  sealFrame(frame, 0, frame.length - FRAME_HEADER_BYTES, 0);
  frame.writeUInt32LE(frame.length - FRAME_HEADER_BYTES - 1, 0);
  assert.equal(scanFrames(frame, 0, () => undefined).bad?.reason, 'checksum mismatch');
});

test('RecordBuffer writes the version-1 bytes exactly (golden, from the build before the JS CRC and name loop)', () => {
  const b = new RecordBuffer();
  b.appendIndex('openssl@3', ['ca-certificates']);
  b.appendRemove('a');
  b.appendIndex('x'.repeat(60), ['libfoo', 'y'.repeat(255)]);
  b.appendEnd(3, 2);
  assert.equal(b.count, 4);
  const out = b.seal(0x01020304);
  assert.equal(out.length, 420);
  assert.equal(
    out.subarray(0, 60).toString('hex'),
    '1f0000009524053f0403020101096f70656e73736c4033010000000f63612d63657274696669636174657303000000b401e862040302010201614901',
  );
  assert.equal(
    createHash('sha256').update(out).digest('hex'),
    'f08ce634d432202a8ba20d59a8d03248f16ecae57e189409e6c91e67cca5f319',
  );
  // After reset the buffer starts over: the next group has only its own frames.
  b.reset();
  b.appendRemove('a');
  assert.equal(b.count, 1);
  assert.equal(b.seal(0x01020304).toString('hex'), out.subarray(43, 43 + 15).toString('hex'));
});
