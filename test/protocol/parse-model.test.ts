import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CommandSlot,
  MAX_NAME_BYTES,
  ProtocolErrorCode,
  Verb,
  isProtocolError,
  type ParseResult,
} from '../../src/protocol/command.js';
import { indexLineError, parseLine, parseLineAt, protocolError } from '../../src/protocol/parse.js';
import { nameHash, nameHashOf } from '../../src/protocol/name-cache.js';

/*
 * parseLine was rewritten for speed (one pass for the separators, cached name strings). The
 * model below is the previous implementation, kept verbatim but for names: every line must
 * parse to the same result.
 */
const PIPE = 0x7c;
const COMMA = 0x2c;
const CR = 0x0d;
const NAME_BYTE = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) NAME_BYTE[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) NAME_BYTE[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) NAME_BYTE[c] = 1;
for (const ch of '._+-@/:') NAME_BYTE[ch.charCodeAt(0)] = 1;
const err = protocolError;
const NO_DEPS: readonly string[] = [];

function checkName(buf: Uint8Array, start: number, end: number): ProtocolErrorCode | null {
  if (end === start) return ProtocolErrorCode.EMPTY_NAME;
  if (end - start > MAX_NAME_BYTES) return ProtocolErrorCode.NAME_TOO_LONG;
  for (let i = start; i < end; i++) if (NAME_BYTE[buf[i]!] === 0) return ProtocolErrorCode.INVALID_NAME;
  return null;
}

function verbAt(buf: Buffer, start: number, end: number): Verb | null {
  const word = buf.toString('latin1', start, end);
  return word === 'INDEX' || word === 'QUERY' || word === 'REMOVE' ? word : null;
}

function referenceParseLine(buf: Buffer, start: number, end: number): ParseResult {
  if (end > start && buf[end - 1] === CR) end--;
  const p1 = buf.indexOf(PIPE, start);
  if (p1 < 0 || p1 >= end) return err(ProtocolErrorCode.FIELD_COUNT);
  const p2 = buf.indexOf(PIPE, p1 + 1);
  if (p2 < 0 || p2 >= end) return err(ProtocolErrorCode.FIELD_COUNT);
  const p3 = buf.indexOf(PIPE, p2 + 1);
  if (p3 >= 0 && p3 < end) return err(ProtocolErrorCode.FIELD_COUNT);

  const verb = verbAt(buf, start, p1);
  if (verb === null) return err(ProtocolErrorCode.UNKNOWN_COMMAND);

  const nameError = checkName(buf, p1 + 1, p2);
  if (nameError !== null) return err(nameError);
  const name = buf.toString('latin1', p1 + 1, p2);

  if (verb !== Verb.INDEX) {
    if (p2 + 1 !== end) return err(ProtocolErrorCode.UNEXPECTED_DEPENDENCIES);
    return verb === Verb.QUERY ? { verb, name } : { verb, name };
  }
  if (p2 + 1 === end) return { verb, name, deps: NO_DEPS };

  const deps: string[] = [];
  let itemStart = p2 + 1;
  for (;;) {
    let itemEnd = buf.indexOf(COMMA, itemStart);
    const last = itemEnd < 0 || itemEnd >= end;
    if (last) itemEnd = end;
    if (itemEnd === itemStart) return err(ProtocolErrorCode.EMPTY_DEPENDENCY);
    if (checkName(buf, itemStart, itemEnd) !== null) return err(ProtocolErrorCode.INVALID_DEPENDENCY);
    deps.push(buf.toString('latin1', itemStart, itemEnd));
    if (last) break;
    itemStart = itemEnd + 1;
  }
  return { verb, name, deps };
}

const PIECES = [
  'INDEX',
  'QUERY',
  'REMOVE',
  'index',
  '|',
  '|',
  '|',
  ',',
  ',',
  '\r',
  'a',
  'zlib',
  'openssl@3',
  ' ',
  'é',
  '\u0000',
  'x'.repeat(254),
  'y'.repeat(256),
  '',
];

test('parseLine parses every line as the previous implementation did', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }),
      fc.nat(3),
      fc.nat(3),
      (pieces, before, after) => {
        const line = Buffer.from(pieces.join(''), 'utf8');
        const buf = Buffer.concat([Buffer.alloc(before, 0x7c), line, Buffer.alloc(after, 0x2c)]);
        const got: ParseResult = parseLine(buf, before, before + line.length);
        assert.deepEqual(
          got,
          referenceParseLine(buf, before, before + line.length),
          JSON.stringify(pieces.join('')),
        );
      },
    ),
    { numRuns: 5000 },
  );
});

/** The command `slot` holds, as parseLine returns it. */
function slotCommand(slot: CommandSlot): ParseResult {
  const { verb, name, deps } = slot;
  if (verb !== Verb.INDEX) return { verb, name };
  return { verb, name, deps: deps.length === 0 ? NO_DEPS : [...deps] };
}

/** Lines near the fast lane's edges: well-formed, or one piece away from it. */
/** Mostly names that are valid, so that most lines are one piece away from well-formed at most. */
const nearNameArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'zlib', 'x'.repeat(255)) },
  // Every length mod 4, and a bad byte at any place in a round: the scan reads names four
  // bytes at a time (parse.ts, scanName).
  {
    weight: 4,
    arbitrary: fc.string({
      unit: fc.constantFrom('a', 'z', '0', '9', '.', '+', '@', '_', '-', '/', ':'),
      minLength: 1,
      maxLength: 13,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.constantFrom('a', 'b', ' ', 'é', '|', ',', '\r'),
      minLength: 1,
      maxLength: 9,
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom('y'.repeat(256), '', 'é', 'a b', 'a|b') },
);
const nearLineArb = fc
  .record({
    verb: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('INDEX', 'QUERY', 'REMOVE') },
      { weight: 1, arbitrary: fc.constantFrom('INDEX ', 'QUER') },
    ),
    name: nearNameArb,
    deps: fc.array(nearNameArb, { maxLength: 4 }),
    end: fc.constantFrom('', '', '\r', '|', ','),
  })
  .map(({ verb, name, deps, end }) => `${verb}|${name}|${deps.join(',')}${end}\n`);

test('parseLineAt parses a line, found by its own scan, as parseLine does, or leaves it to parseLine', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.array(fc.constantFrom(...PIECES, '\n'), { maxLength: 12 }).map((p) => p.join('')),
        nearLineArb,
      ),
      fc.array(fc.constantFrom('|', ',', 'a', '\n', '\r'), { maxLength: 4 }),
      fc.nat(3),
      fc.oneof(fc.constant(Infinity), fc.nat(300)),
      (line, tail, before, cut) => {
        const text = Buffer.from(line + tail.join(''), 'utf8');
        const buf = Buffer.concat([Buffer.alloc(before, 0x7c), text]);
        const limit = Math.min(buf.length, before + cut);
        const slot = new CommandSlot();
        const end = parseLineAt(buf, before, limit, slot);
        const nl = buf.indexOf(0x0a, before);
        const shown = JSON.stringify(text.toString('latin1'));
        if (end === -1) {
          // Left to the framer and parseLine, which must then disagree with the fast lane's
          // rules: no newline before the limit, a `\r`, or a line parseLine refuses.
          const complete = nl >= 0 && nl < limit;
          const plain = complete && buf.subarray(before, nl).indexOf(0x0d) < 0;
          if (plain) assert.equal(isProtocolError(parseLine(buf, before, nl)), true, shown);
          return;
        }
        assert.equal(end, nl, `the offset of the first newline in ${shown}`);
        assert.ok(end < limit);
        assert.deepEqual(slotCommand(slot), parseLine(buf, before, end), shown);
        // The keys the graph looks names up by: each name's hash, the name's first.
        const names = [slot.name, ...slot.deps];
        const hashes = names.map((n) => nameHash(Buffer.from(n, 'latin1'), 0, n.length));
        assert.deepEqual(slot.keys, hashes, `keys of ${shown}`);
        assert.deepEqual(slot.keys, names.map(nameHashOf), `keys of ${shown}, from the strings`);
      },
    ),
    { numRuns: 5000 },
  );
});

test('parseLineAt takes every well-formed line that ends before the limit', () => {
  const nameArb = fc.constantFrom('a', 'zlib', 'openssl@3', 'x'.repeat(255), 'lib.so+1:2/3_4-5');
  fc.assert(
    fc.property(
      fc.constantFrom('INDEX', 'QUERY', 'REMOVE'),
      nameArb,
      fc.array(nameArb, { maxLength: 6 }),
      (verb, name, deps) => {
        const line = `${verb}|${name}|${verb === 'INDEX' ? deps.join(',') : ''}`;
        const buf = Buffer.from(`${line}\nQUERY|next|\n`, 'latin1');
        const slot = new CommandSlot();
        assert.equal(parseLineAt(buf, 0, line.length + 1, slot), line.length);
        assert.deepEqual(slotCommand(slot), parseLine(buf, 0, line.length));
        assert.equal(parseLineAt(buf, 0, line.length, slot), -1, 'a newline at the limit is past it');
      },
    ),
    { numRuns: 2000 },
  );
});

test('indexLineError refuses exactly the INDEX lines the model answers ERROR, with its code', () => {
  fc.assert(
    fc.property(
      nearNameArb,
      fc.array(nearNameArb, { maxLength: 4 }),
      fc.constantFrom('', '', ','),
      (name, deps, end) => {
        const field = deps.join(',') + end;
        const line = Buffer.from(`INDEX|${name}|${field}`, 'utf8');
        const model = referenceParseLine(line, 0, line.length);
        const shown = JSON.stringify(line.toString('utf8'));
        assert.equal(indexLineError(name, field), isProtocolError(model) ? model.error : null, shown);
      },
    ),
    { numRuns: 3000 },
  );
});
