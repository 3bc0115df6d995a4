import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeRecord,
  decodeRecordIn,
  recordNameIn,
  recordTypeIn,
  indexPayloadBytes,
  writeIndexPayload,
  writeRemovePayload,
  removePayloadBytes,
  writeEndPayload,
  END_PAYLOAD_BYTES,
} from '../../../src/store/format/record.js';
import { NameCache } from '../../../src/protocol/name-cache.js';

const name = fc.stringMatching(/^[a-z0-9._+@/:-]{1,255}$/);

/** Well-formed INDEX and REMOVE payloads. */
const validPayload = fc.oneof(
  fc.tuple(name, fc.array(name, { maxLength: 5 })).map(([n, deps]) => {
    const buf = Buffer.alloc(indexPayloadBytes(n, deps));
    writeIndexPayload(buf, 0, n, deps);
    return buf;
  }),
  name.map((n) => {
    const buf = Buffer.alloc(removePayloadBytes(n));
    writeRemovePayload(buf, 0, n);
    return buf;
  }),
);

test('INDEX records round-trip', () => {
  fc.assert(
    fc.property(name, fc.array(name, { maxLength: 20 }), (n, deps) => {
      const buf = Buffer.alloc(indexPayloadBytes(n, deps));
      assert.equal(writeIndexPayload(buf, 0, n, deps), buf.length);
      assert.deepEqual(decodeRecord(buf), { verb: 'INDEX', name: n, deps });
    }),
  );
});

test('REMOVE and END records round-trip', () => {
  const buf = Buffer.alloc(removePayloadBytes('libfoo'));
  writeRemovePayload(buf, 0, 'libfoo');
  assert.deepEqual(decodeRecord(buf), { verb: 'REMOVE', name: 'libfoo' });
  const end = Buffer.alloc(END_PAYLOAD_BYTES);
  writeEndPayload(end, 0, 123456, 7890123);
  assert.deepEqual(decodeRecord(end), { verb: 'END', packages: 123456, edges: 7890123 });
});

test('malformed payloads decode to null instead of throwing or allocating', () => {
  const good = Buffer.alloc(indexPayloadBytes('a', ['bb', 'ccc']));
  writeIndexPayload(good, 0, 'a', ['bb', 'ccc']);
  for (let cut = 0; cut < good.length; cut++)
    assert.equal(decodeRecord(good.subarray(0, cut)), null, `cut ${cut}`);
  assert.equal(decodeRecord(Buffer.concat([good, Buffer.from([0])])), null, 'trailing byte');
  const hugeCount = Buffer.from(good);
  hugeCount.writeUInt32LE(0xffffffff, 3);
  assert.equal(decodeRecord(hugeCount), null);
  assert.equal(decodeRecord(Buffer.from([9, 1, 0x61])), null, 'unknown type');
  assert.equal(decodeRecord(Buffer.from([2, 0])), null, 'empty name');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      decodeRecord(Buffer.from(bytes));
    }),
  );
});

test('decoding through a name cache gives the same records, whatever it evicts', () => {
  // Four slots for names drawn from a handful: hits, misses and evictions all happen.
  const few = fc.constantFrom('a', 'b', 'libfoo', 'libfop', 'x.y-z', 'q'.repeat(255));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(few, fc.array(few, { maxLength: 6 })), { minLength: 1, maxLength: 30 }),
      (records) => {
        const names = new NameCache(4);
        for (const [n, deps] of records) {
          const buf = Buffer.alloc(indexPayloadBytes(n, deps));
          writeIndexPayload(buf, 0, n, deps);
          assert.deepEqual(decodeRecord(buf, names), decodeRecord(buf));
          const remove = Buffer.alloc(removePayloadBytes(n));
          writeRemovePayload(remove, 0, n);
          assert.deepEqual(decodeRecord(remove, names), { verb: 'REMOVE', name: n });
        }
      },
    ),
  );
  const names = new NameCache();
  const buf = Buffer.alloc(indexPayloadBytes('a', ['libfoo']));
  writeIndexPayload(buf, 0, 'a', ['libfoo']);
  for (let cut = 0; cut < buf.length; cut++)
    assert.equal(decodeRecord(buf.subarray(0, cut), names), null, `cut ${cut}`);
});

test('a payload read in place, among other bytes, decodes as the payload alone does', () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
    validPayload,
  );
  fc.assert(
    fc.property(
      payload,
      fc.uint8Array({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 300 }),
      (p, before, after) => {
        const around = Buffer.concat([before, p, after]);
        const expected = decodeRecord(Buffer.from(p));
        assert.deepEqual(decodeRecordIn(around, before.length, before.length + p.length), expected);
        assert.deepEqual(
          decodeRecordIn(around, before.length, before.length + p.length, new NameCache(8)),
          expected,
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('recordTypeIn accepts exactly the payloads decodeRecordIn decodes, with their type, and recordNameIn reads their name', () => {
  const verbType = { INDEX: 1, REMOVE: 2, END: 3 } as const;
  // Valid payloads, damaged ones (a byte changed, cut, or grown) and random bytes.
  const payload = fc.oneof(
    validPayload,
    fc.tuple(validPayload, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, at, x]) => {
      const d = Buffer.from(b);
      d[at % d.length]! ^= x;
      return d;
    }),
    fc.tuple(validPayload, fc.nat()).map(([b, cut]) => b.subarray(0, cut % b.length)),
    fc
      .tuple(validPayload, fc.uint8Array({ minLength: 1, maxLength: 3 }))
      .map(([b, more]) => Buffer.concat([b, more])),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  );
  fc.assert(
    fc.property(payload, fc.nat({ max: 5 }), (p, pad) => {
      const b = Buffer.concat([Buffer.alloc(pad, 7), p, Buffer.alloc(pad, 7)]);
      const record = decodeRecordIn(b, pad, pad + p.length);
      const type = recordTypeIn(b, pad, pad + p.length);
      assert.equal(type, record === null ? 0 : verbType[record.verb]);
      if (record !== null && record.verb !== 'END') assert.equal(recordNameIn(b, pad), record.name);
    }),
    { numRuns: 2000 },
  );
});
