import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Range, makeTableCrc32 } from '../../../src/store/format/crc32.js';

const table = makeTableCrc32();

test('crc32 matches the standard check value', () => {
  const check = Buffer.from('123456789', 'latin1');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(table(check), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
  assert.equal(crc32Range(check, 0, check.length), 0xcbf43926);
  assert.equal(crc32Range(check, 3, 3), 0);
});

test('the table and the native implementation agree, also when chained', () => {
  for (let i = 0; i < 50; i++) {
    const data = randomBytes(1 + Math.floor(Math.random() * 3000));
    assert.equal(table(data), crc32(data));
    const cut = Math.floor(Math.random() * data.length);
    assert.equal(table(data.subarray(cut), table(data.subarray(0, cut))), crc32(data));
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), crc32(data));
  }
});

test('crc32Range (slicing-by-8 over a range) agrees with crc32 at every length and alignment, chained too', () => {
  const data = randomBytes(300);
  for (let start = 0; start < 8; start++)
    for (let end = start; end <= 120; end++) {
      const expected = crc32(data.subarray(start, end));
      assert.equal(crc32Range(data, start, end), expected, `[${start}, ${end})`);
      const cut = start + ((end - start) >> 1);
      assert.equal(
        crc32Range(data, cut, end, crc32Range(data, start, cut)),
        expected,
        `[${start}, ${cut}, ${end})`,
      );
    }
  for (let i = 0; i < 20; i++) {
    const big = randomBytes(1 + Math.floor(Math.random() * 5000));
    const initial = Math.floor(Math.random() * 0x100000000);
    assert.equal(crc32Range(big, 0, big.length, initial), crc32(big, initial));
  }
});

test('crc32Range reads views at any offset of their memory, and buffers read in turn, each as itself', () => {
  // Pooled Buffers and subarrays start inside a larger ArrayBuffer; crc32Range keeps a view of
  // the buffer it read last, which must be of that buffer and of no other.
  const backing = randomBytes(4096);
  const views = [0, 1, 3, 7, 13].map((offset) => backing.subarray(offset, offset + 200 + offset));
  const copies = views.map((v) => Buffer.from(v));
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < views.length; i++) {
      const v = views[(i * 3 + round) % views.length]!;
      for (const [start, end] of [
        [0, v.length],
        [5, 77],
        [2, 6],
        [9, 9 + 8],
      ] as const)
        assert.equal(crc32Range(v, start, end), crc32(v.subarray(start, end)), `view at ${v.byteOffset}`);
    }
  for (let i = 0; i < views.length; i++)
    assert.equal(crc32Range(copies[i]!, 0, copies[i]!.length), crc32Range(views[i]!, 0, views[i]!.length));
});
