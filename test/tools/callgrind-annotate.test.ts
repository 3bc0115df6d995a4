import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventTotals, nameAt, parsePerfMap, selfCosts } from '../../tools/support/callgrind-annotate.js';

const MAP = [
  'd0eac00 f2c JS:*push file:///work/main/dist/src/protocol/framer.js:27:9',
  'd0ebc00 2670 JS:*parseInto file:///work/main/dist/src/protocol/parse.js:89:26',
  'not a map line',
  // Re-mapped: a later entry for an address range wins.
  'd0eac00 100 JS:*receive file:///work/main/dist/src/server/connection.js:118:12',
].join('\n');

test('perf map: entries sorted by address, the later of two overlapping entries names the code', () => {
  const entries = parsePerfMap(MAP);
  assert.equal(entries.length, 3);
  assert.equal(
    nameAt(entries, 0xd0ebc00 + 0x10),
    'JS:*parseInto file:///work/main/dist/src/protocol/parse.js:89:26',
  );
  assert.equal(
    nameAt(entries, 0xd0eac00 + 0x50),
    'JS:*receive file:///work/main/dist/src/server/connection.js:118:12',
  );
  assert.equal(
    nameAt(entries, 0xd0eac00 + 0x200),
    'JS:*push file:///work/main/dist/src/protocol/framer.js:27:9',
  );
  assert.equal(nameAt(entries, 0xd0eac00 - 1), null);
  // An older entry that starts higher up inside a newer one's range is not the name: the newer is.
  const remapped = parsePerfMap(['d0eac80 200 JS:*old x.js:1:1', 'd0eac00 400 JS:*new y.js:2:2'].join('\n'));
  assert.equal(nameAt(remapped, 0xd0eac90), 'JS:*new y.js:2:2');
  assert.equal(nameAt(remapped, 0xd0eac10), 'JS:*new y.js:2:2');
  assert.equal(nameAt(entries, 0xd0ebc00 + 0x2670), null, 'the end is exclusive');
});

test("callgrind_annotate's rows: generated code named from the map and summed per name, the rest as printed", () => {
  const annotated = [
    '941,243,451 (100.0%)  PROGRAM TOTALS',
    '374,012,128 (38.25%)  ???:0x000000000d0ebc00 [???]',
    '  1,000,000 ( 0.10%)  ???:0x000000000d0ebd00 [???]',
    ' 41,801,521 ( 4.27%)  ???:Builtins_LoadIC [/usr/bin/node]',
    '      5,000 ( 0.00%)  ???:0x0000000000000042 [???]',
    '      3,000 ( 0.00%)  /home/iojs/build/ws/out/../deps/uv/src/unix/stream.c:uv__read [/usr/bin/node]',
  ].join('\n');
  const costs = selfCosts(annotated, parsePerfMap(MAP));
  assert.deepEqual(
    [...costs],
    [
      ['*parseInto parse.js:89', 375_012_128],
      ['Builtins_LoadIC', 41_801_521],
      ['JIT code (unmapped)', 5_000],
      ['/home/iojs/build/ws/out/../deps/uv/src/unix/stream.c:uv__read', 3_000],
    ],
  );
});

test('rows without a percentage (older callgrind_annotate) are read too; no map: generated code is one line', () => {
  const annotated = [
    '1,000  ???:0x000000000d0ebc00 [???]',
    '  500  ???:0x000000000d0eac00 [???]',
    '  20  ???:memcpy [libc.so.6]',
  ].join('\n');
  assert.deepEqual(
    [...selfCosts(annotated, [])],
    [
      ['JIT code (unmapped)', 1_500],
      ['memcpy', 20],
    ],
  );
});

test("a callgrind file's totals by event, with and without the cache simulation; none before it finished", () => {
  const header = 'version: 1\ncreator: callgrind-3.19.0\npid: 42\ncmd: node serve\npositions: line\n';
  const simulated = eventTotals(
    `${header}events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nfl=(1) x\nfn=(1) f\n3 10 4 2 1 1 0 1 0 0\ntotals: 1000 400 200 10 30 20 5 7 3\n`,
  );
  assert.deepEqual(
    simulated,
    new Map([
      ['Ir', 1000],
      ['Dr', 400],
      ['Dw', 200],
      ['I1mr', 10],
      ['D1mr', 30],
      ['D1mw', 20],
      ['ILmr', 5],
      ['DLmr', 7],
      ['DLmw', 3],
    ]),
  );
  assert.deepEqual(eventTotals(`${header}events: Ir\ntotals: 941243451\n`), new Map([['Ir', 941243451]]));
  assert.equal(eventTotals(`${header}events: Ir\nfl=(1) x\n`), null);
});
