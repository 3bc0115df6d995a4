import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NameMap } from '../../src/graph/name-map.js';

/** Keys an object-backed map could get wrong: prototype names, array indices, numbers' spellings. */
const TRICKY = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '0',
  '1',
  '123',
  '01',
  '-1',
  '1.5',
  '4294967294',
  '4294967295',
  '9007199254740993',
  'NaN',
  'undefined',
  'length',
  '',
  'a',
  'openssl@3',
];

test('property: NameMap agrees with a Map on any sequence of set, delete, get and has', () => {
  const key = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ maxLength: 4 }));
  const op = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key, value: fc.integer() }),
    fc.record({ op: fc.constant('delete' as const), key }),
    fc.record({ op: fc.constant('get' as const), key }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
      const map = new NameMap<{ v: number }>();
      const model = new Map<string, { v: number }>();
      for (const o of ops) {
        if (o.op === 'set') {
          const value = { v: o.value };
          map.set(o.key, value);
          model.set(o.key, value);
        } else if (o.op === 'delete') {
          assert.equal(map.delete(o.key), model.delete(o.key), `delete ${o.key}`);
        } else {
          assert.equal(map.get(o.key), model.get(o.key), `get ${o.key}`);
          assert.equal(map.has(o.key), model.has(o.key), `has ${o.key}`);
        }
        assert.equal(map.size, model.size);
      }
      const values = [...map.values()];
      assert.equal(values.length, model.size);
      assert.deepEqual(new Set(values), new Set(model.values()));
    }),
    { numRuns: 1000 },
  );
});

test('a name that reads like a prototype property is absent until indexed', () => {
  const map = new NameMap<number>();
  for (const name of TRICKY) assert.equal(map.get(name), undefined, name);
  map.set('__proto__', 1);
  assert.equal(map.get('__proto__'), 1);
  assert.equal(map.size, 1);
  assert.deepEqual([...map.values()], [1]);
});
