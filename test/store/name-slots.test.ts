import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NameSlots } from '../../src/store/name-slots.js';
import { nameHash } from '../../src/protocol/name-cache.js';

/**
 * The model: a Map from each name to the order it was first met in. Names are drawn from a
 * small alphabet so that they repeat, collide in the table and share prefixes; enough of
 * them to make the table and its arena grow several times.
 */
test('property: NameSlots numbers names by their bytes in the order first met, as a Map would', () => {
  const name = fc.string({
    unit: fc.constantFrom('a', 'b', 'c', '-', '+', '.', 'é'),
    minLength: 1,
    maxLength: 40,
  });
  fc.assert(
    fc.property(fc.array(name, { maxLength: 3000 }), fc.nat(7), (names, pad) => {
      const slots = new NameSlots();
      const model = new Map<string, number>();
      for (const n of names) {
        // Each name at some offset in a larger buffer, as a record's name sits in a read window.
        const bytes = Buffer.concat([Buffer.alloc(pad, 0x7c), Buffer.from(n, 'latin1'), Buffer.from('|x')]);
        if (!model.has(n)) model.set(n, model.size);
        assert.equal(slots.slotOf(bytes, pad, pad + bytes.length - pad - 2), model.get(n));
      }
      assert.equal(slots.size, model.size);
      for (const [n, slot] of model) assert.equal(slots.name(slot), n);
    }),
    { numRuns: 60 },
  );
});

test('NameSlots keeps apart names that differ only past their first bytes, and by length', () => {
  const slots = new NameSlots();
  const names = ['abcdefgh', 'abcdefgi', 'abcdefg', 'abcdefghi', 'x'.repeat(255), `${'x'.repeat(254)}y`];
  for (const [i, n] of names.entries()) assert.equal(slots.slotOf(Buffer.from(n, 'latin1'), 0, n.length), i);
  for (const [i, n] of names.entries()) assert.equal(slots.slotOf(Buffer.from(n, 'latin1'), 0, n.length), i);
  assert.deepEqual(
    names.map((_, i) => slots.name(i)),
    names,
  );
});

test('NameSlots grows past its first table and arena: 20,000 names, each met twice', () => {
  const slots = new NameSlots();
  const names = Array.from({ length: 20_000 }, (_, i) => `package-${i.toString(36)}-with-a-longer-name`);
  for (const round of [0, 1])
    for (const [i, n] of names.entries())
      assert.equal(slots.slotOf(Buffer.from(n, 'latin1'), 0, n.length), i, `round ${round}, ${n}`);
  assert.equal(slots.size, names.length);
  assert.equal(slots.name(names.length - 1), names.at(-1));
});

test('NameSlots tells apart names of the same length whose hashes are equal', () => {
  // A pair found by search: the table compares the bytes, not only the hash.
  const seen = new Map<number, string>();
  let pair: [string, string] | null = null;
  for (let i = 0; pair === null; i++) {
    const n = `n${i.toString(36).padStart(7, '0')}`;
    const h = nameHash(Buffer.from(n, 'latin1'), 0, n.length);
    const other = seen.get(h);
    if (other !== undefined) pair = [other, n];
    else seen.set(h, n);
  }
  const slots = new NameSlots();
  const [a, b] = pair;
  assert.equal(slots.slotOf(Buffer.from(a, 'latin1'), 0, a.length), 0);
  assert.equal(slots.slotOf(Buffer.from(b, 'latin1'), 0, b.length), 1, `${a} and ${b} are two names`);
  assert.equal(slots.slotOf(Buffer.from(a, 'latin1'), 0, a.length), 0);
  assert.equal(slots.slotOf(Buffer.from(b, 'latin1'), 0, b.length), 1);
});
