import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NameCache } from '../../src/protocol/name-cache.js';

test('decoding through the cache always equals decoding the bytes, even when slots collide', () => {
  const cache = new NameCache(4); // tiny: collisions all the time
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 50 }),
      (names) => {
        for (const bytes of [...names, ...names]) {
          const buf = Buffer.concat([Buffer.from('|'), bytes, Buffer.from('|')]);
          assert.equal(cache.decode(buf, 1, buf.length - 1), buf.toString('latin1', 1, buf.length - 1));
        }
      },
    ),
  );
});

test('the same bytes give the same string object while cached; long names are decoded uncached', () => {
  const cache = new NameCache();
  const a = Buffer.from('QUERY|openssl@3|');
  const b = Buffer.from('INDEX|x|openssl@3,zlib');
  const first = cache.decode(a, 6, 15);
  assert.equal(first, 'openssl@3');
  assert.equal(cache.decode(b, 8, 17), first);
  const long = Buffer.from('n'.repeat(300));
  assert.equal(cache.decode(long, 0, 300), 'n'.repeat(300));
});
