import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FNV_OFFSET,
  NAME_WORDS,
  NameCache,
  foldHash,
  nameHash,
  nameHashOf,
} from '../../src/protocol/name-cache.js';

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

test('names sharing a set: the two most recently used stay cached, and every answer is right', () => {
  const cache = new NameCache(16);
  const bufOf = (s: string) => Buffer.from(s, 'latin1');
  // The same hash for every name puts them all in one set of two slots.
  const hash = 12345;
  const x = cache.lookup(bufOf('x'), 0, 1, hash);
  const y = cache.lookup(bufOf('y'), 0, 1, hash);
  assert.equal(cache.lookup(bufOf('x'), 0, 1, hash), x, 'x still cached beside y');
  assert.equal(cache.lookup(bufOf('y'), 0, 1, hash), y);
  assert.equal(cache.lookup(bufOf('z'), 0, 1, hash), 'z', 'evicts x, the least recently used');
  assert.equal(cache.lookup(bufOf('y'), 0, 1, hash), y, 'y survived');
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'ab', 'ba', ''), fc.nat(3)), { maxLength: 40 }),
      (steps) => {
        for (const [name, h] of steps) {
          const buf = bufOf(`|${name}|`);
          // Hashes that collide on purpose (0-3), equal for different names, and cached strings
          // of the same length: only the byte comparison tells them apart.
          assert.equal(cache.lookup(buf, 1, 1 + name.length, h), name);
        }
      },
    ),
  );
});

test('cached, given the bytes packed as the parser packs them, answers as lookup does or not at all, whatever the hash', () => {
  const cache = new NameCache(16);
  /** Packs `bytes` into NAME_WORDS as scanLine does; returns `tail`. */
  const pack = (bytes: Uint8Array): number => {
    let k = 0;
    for (; k + 4 <= bytes.length && k / 4 < NAME_WORDS.length; k += 4)
      NAME_WORDS[k / 4] = bytes[k]! | (bytes[k + 1]! << 8) | (bytes[k + 2]! << 16) | (bytes[k + 3]! << 24);
    let tail = 0;
    for (let j = 0; j < (bytes.length & 3); j++) tail |= bytes[(bytes.length & ~3) + j]! << (8 * j);
    return tail;
  };
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          // Short names that share words and lengths, and names past the 24 bytes kept in words.
          fc.oneof(
            fc.constantFrom(
              'a',
              'b',
              'ab',
              'ba',
              'abcd',
              'abce',
              'abcdefgh',
              'abcdefgi',
              'x'.repeat(24),
              'x'.repeat(25),
            ),
            fc.string({ unit: fc.constantFrom('a', 'b', '\u00e9'), minLength: 1, maxLength: 30 }),
          ),
          fc.nat(3),
          fc.boolean(),
        ),
        { maxLength: 60 },
      ),
      (steps) => {
        for (const [name, h, words] of steps) {
          const buf = Buffer.from(`|${name}|`, 'latin1');
          const end = 1 + Buffer.byteLength(name, 'latin1');
          // Colliding hashes (0-3), and the two ways in, mixed: they share the slots.
          const got = words
            ? (cache.cached(h, end - 1, pack(buf.subarray(1, end))) ?? cache.lookup(buf, 1, end, h))
            : cache.lookup(buf, 1, end, h);
          assert.equal(got, name);
          // Just found or added, it is first in its set: packed words find it without the bytes.
          if (end - 1 <= 24) assert.equal(cache.cached(h, end - 1, pack(buf.subarray(1, end))), name);
        }
      },
    ),
  );
});

test('decode hashes with nameHash, so decode and lookup share slots', () => {
  const cache = new NameCache();
  const buf = Buffer.from('INDEX|zlib|');
  const first = cache.decode(buf, 6, 10);
  assert.equal(cache.lookup(buf, 6, 10, nameHash(buf, 6, 10)), first);
  assert.equal(nameHash(buf, 6, 6), foldHash(FNV_OFFSET));
  assert.ok(nameHash(buf, 6, 10) >= 0 && nameHash(buf, 6, 10) < 2 ** 30);
});

test('names of the same length and hash that differ in one byte anywhere are told apart, by words or by characters', () => {
  const cache = new NameCache(4);
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.integer({ min: 1, max: 40 }), // around 4-byte words and the 32 bytes kept as words
          fc.nat(39), // which byte differs
          fc.integer({ min: 1, max: 255 }),
          fc.nat(1), // the hash: two values, so every name collides
        ),
        { maxLength: 30 },
      ),
      (steps) => {
        for (const [length, at, delta, hash] of steps) {
          const bytes = Buffer.alloc(length + 2, 0x61);
          if (at < length) bytes[1 + at] = (0x61 + delta) & 0xff;
          const expected = bytes.toString('latin1', 1, 1 + length);
          assert.equal(cache.lookup(bytes, 1, 1 + length, hash), expected);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('nameHashOf a decoded name is nameHash of its bytes, for any bytes', () => {
  // The durable store's filter of pending names (unacked-names.ts) hashes a name's string when
  // its command carries no keys, and must land where the parser's key for the same name does.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      const buf = Buffer.from(bytes);
      assert.equal(nameHashOf(buf.toString('latin1')), nameHash(buf, 0, buf.length));
    }),
  );
});
