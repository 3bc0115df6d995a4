import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyClass, ReplyScanner, classifyLine } from '../../src/bench/replies.js';

const line = (s: string): ReplyClass => classifyLine(Buffer.from(s), 0, s.length);

test('the three words are classified; anything else is BAD', () => {
  assert.equal(line('OK'), ReplyClass.OK);
  assert.equal(line('FAIL'), ReplyClass.FAIL);
  assert.equal(line('ERROR'), ReplyClass.ERROR);
  for (const bad of [
    '',
    'O',
    'OKK',
    'Ok',
    'ok',
    'FAIL ',
    'FAILS',
    'ERR',
    'ERRORS',
    'EROOR',
    'FOIL',
    'OK\r',
    'X',
  ])
    assert.equal(line(bad), ReplyClass.BAD, JSON.stringify(bad));
});

function scanAll(chunks: readonly Buffer[]): { classes: ReplyClass[]; pending: number } {
  const scanner = new ReplyScanner();
  const classes: ReplyClass[] = [];
  for (const c of chunks) scanner.push(c, { reply: (cls) => classes.push(cls) });
  return { classes, pending: scanner.pendingBytes };
}

const STREAM = 'OK\nFAIL\nERROR\nHELLO WORLD, THIS IS LONG\nOK\nOKAY\n\nERROR\n';
const EXPECTED = [
  ReplyClass.OK,
  ReplyClass.FAIL,
  ReplyClass.ERROR,
  ReplyClass.BAD,
  ReplyClass.OK,
  ReplyClass.BAD,
  ReplyClass.BAD,
  ReplyClass.ERROR,
];

test('a reply stream fed byte by byte classifies as when fed whole', () => {
  const bytes = Buffer.from(STREAM);
  assert.deepEqual(scanAll([bytes]), { classes: EXPECTED, pending: 0 });
  const oneByOne = [...bytes].map((b) => Buffer.from([b]));
  assert.deepEqual(scanAll(oneByOne), { classes: EXPECTED, pending: 0 });
});

test('a reply stream split anywhere classifies as when fed whole', () => {
  const bytes = Buffer.from(STREAM);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 })), (cuts) => {
      const at = [0, ...cuts.sort((a, b) => a - b), bytes.length];
      const chunks = at.slice(1).map((end, i) => bytes.subarray(at[i], end));
      assert.deepEqual(scanAll(chunks), { classes: EXPECTED, pending: 0 });
    }),
  );
});

test('an unfinished reply is pending, so a close can report it', () => {
  assert.equal(scanAll([Buffer.from('OK\nFA')]).pending, 2);
  assert.ok(scanAll([Buffer.from('OK\nTHIS IS NOT A REPLY')]).pending > 0);
});
