import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, makeTableCrc32 } from '../../../src/store/format/crc32.js';

const table = makeTableCrc32();

test('crc32 matches the standard check value', () => {
  const check = Buffer.from('123456789', 'latin1');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(table(check), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
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
