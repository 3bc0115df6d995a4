import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatCommand, indexLineError, parseInto, parseLine } from '../../src/protocol/parse.js';
import { CommandSlot, ProtocolErrorCode, type ParseResult } from '../../src/protocol/command.js';

function parse(line: string | Buffer): ParseResult {
  const buf = typeof line === 'string' ? Buffer.from(line, 'latin1') : line;
  return parseLine(buf, 0, buf.length);
}

function errorOf(line: string | Buffer): string | undefined {
  const r = parse(line);
  return r.verb === null ? r.error : undefined;
}

test('parses the three commands', () => {
  assert.deepEqual(parse('INDEX|gtk+3|glib,cairo'), {
    verb: 'INDEX',
    name: 'gtk+3',
    deps: ['glib', 'cairo'],
  });
  assert.deepEqual(parse('INDEX|a|'), { verb: 'INDEX', name: 'a', deps: [] });
  assert.deepEqual(parse('REMOVE|libsigc++|'), { verb: 'REMOVE', name: 'libsigc++' });
  assert.deepEqual(parse('QUERY|python@3.12|'), { verb: 'QUERY', name: 'python@3.12' });
});

test('accepts real package names with + _ @ . / : - digits and uppercase', () => {
  for (const name of [
    'gtk+3',
    'libsigc++',
    'docbook2X',
    'python@3.12',
    'a_b',
    'x/y',
    'ns:pkg',
    'lib-foo.1',
  ]) {
    assert.deepEqual(parse(`QUERY|${name}|`), { verb: 'QUERY', name });
  }
});

test('tolerates one \\r before the newline, not two', () => {
  assert.deepEqual(parse('QUERY|a|\r'), { verb: 'QUERY', name: 'a' });
  assert.deepEqual(parse('INDEX|a|b\r'), { verb: 'INDEX', name: 'a', deps: ['b'] });
  assert.equal(errorOf('QUERY|a|\r\r'), ProtocolErrorCode.UNEXPECTED_DEPENDENCIES);
  assert.equal(errorOf('INDEX|a|b\r\r'), ProtocolErrorCode.INVALID_DEPENDENCY);
});

test('rejects anything but exactly three fields', () => {
  for (const line of ['', 'QUERY', 'QUERY|a', 'INDEX|a|b|', 'INDEX|a|b|c', '||||', '\r'])
    assert.equal(errorOf(line), ProtocolErrorCode.FIELD_COUNT, JSON.stringify(line));
});

test('rejects unknown commands, case-sensitively', () => {
  for (const line of [
    'index|a|',
    'Query|a|',
    'DELETE|a|',
    '|a|',
    'INDEX |a|',
    ' QUERY|a|',
    'QUERYX|a|',
    'REMOV|a|',
  ])
    assert.equal(errorOf(line), ProtocolErrorCode.UNKNOWN_COMMAND, line);
});

test('rejects empty, invalid and over-long package names', () => {
  assert.equal(errorOf('QUERY||'), ProtocolErrorCode.EMPTY_NAME);
  for (const bad of ['a b', 'a,b', 'é', 'a\tb', 'a*', 'a#', 'a\0'])
    assert.equal(errorOf(`QUERY|${bad}|`), ProtocolErrorCode.INVALID_NAME, bad);
  assert.deepEqual(parse(`QUERY|${'x'.repeat(255)}|`), { verb: 'QUERY', name: 'x'.repeat(255) });
  assert.equal(errorOf(`QUERY|${'x'.repeat(256)}|`), ProtocolErrorCode.NAME_TOO_LONG);
});

test('validates names as bytes: distinct invalid UTF-8 never collide into one name', () => {
  const a = Buffer.concat([Buffer.from('QUERY|a'), Buffer.from([0xff]), Buffer.from('|')]);
  const b = Buffer.concat([Buffer.from('QUERY|a'), Buffer.from([0xfe]), Buffer.from('|')]);
  assert.equal(errorOf(a), ProtocolErrorCode.INVALID_NAME);
  assert.equal(errorOf(b), ProtocolErrorCode.INVALID_NAME);
  assert.equal(errorOf(Buffer.from('QUERY|\u00e9|', 'utf8')), ProtocolErrorCode.INVALID_NAME);
});

test('rejects empty and invalid dependency items; duplicates are kept for the index to fold', () => {
  for (const deps of ['a,,b', 'a,', ',a', ','])
    assert.equal(errorOf(`INDEX|p|${deps}`), ProtocolErrorCode.EMPTY_DEPENDENCY, deps);
  for (const deps of ['a b', 'a,b c', `a,${'y'.repeat(256)}`, 'a;b'])
    assert.equal(errorOf(`INDEX|p|${deps}`), ProtocolErrorCode.INVALID_DEPENDENCY, deps);
  assert.deepEqual(parse('INDEX|p|a,a'), { verb: 'INDEX', name: 'p', deps: ['a', 'a'] });
});

test('rejects a dependency field on REMOVE and QUERY', () => {
  assert.equal(errorOf('REMOVE|a|b'), ProtocolErrorCode.UNEXPECTED_DEPENDENCIES);
  assert.equal(errorOf('QUERY|a|b'), ProtocolErrorCode.UNEXPECTED_DEPENDENCIES);
  assert.equal(errorOf('QUERY|a| '), ProtocolErrorCode.UNEXPECTED_DEPENDENCIES);
});

test('parses a line inside a larger buffer without reading outside it', () => {
  const buf = Buffer.from('xxINDEX|a|b,c\nQUERY|zz|');
  assert.deepEqual(parseLine(buf, 2, 13), { verb: 'INDEX', name: 'a', deps: ['b', 'c'] });
  assert.deepEqual(parseLine(buf, 14, buf.length), { verb: 'QUERY', name: 'zz' });
  // The second `|` of the next line must not count for the first.
  assert.equal(parseLine(Buffer.from('QUERY|a\n|'), 0, 7).verb, null);
});

test('parseInto reuses one slot: each line leaves exactly its own command in it', () => {
  const slot = new CommandSlot();
  const into = (line: string) => {
    const buf = Buffer.from(line, 'latin1');
    return parseInto(buf, 0, buf.length, slot);
  };
  assert.equal(into('INDEX|a|b,c,d'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['INDEX', 'a', ['b', 'c', 'd']]);
  assert.equal(into('INDEX|e|f'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['INDEX', 'e', ['f']]);
  assert.equal(into('QUERY|g|'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['QUERY', 'g', []]);
  assert.equal(into('INDEX|h|i,j'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['INDEX', 'h', ['i', 'j']]);
  assert.equal(into('INDEX|k|'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['INDEX', 'k', []]);
  assert.equal(into('INDEX|k|a,,b'), ProtocolErrorCode.EMPTY_DEPENDENCY);
  assert.equal(into('REMOVE|l|'), null);
  assert.deepEqual([slot.verb, slot.name, slot.deps], ['REMOVE', 'l', []]);
});

test('parseLine returns values of its own: a later line does not change an earlier result', () => {
  const first = parse('INDEX|a|b,c');
  parse('INDEX|x|y');
  assert.deepEqual(first, { verb: 'INDEX', name: 'a', deps: ['b', 'c'] });
});

// ---- property tests against a simple model of the grammar ----

const NAME_CHARS = ['a', 'b', 'c', 'X', 'Y', 'Z', '0', '1', '9', '.', '_', '+', '-', '@', '/', ':'];
const nameArb = fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 12 });

/** The grammar, written the obvious way (regexes and split), to check the fast parser against. */
function model(line: string): ParseResult {
  const body = line.endsWith('\r') ? line.slice(0, -1) : line;
  const fields = body.split('|');
  if (fields.length !== 3) return { verb: null, error: ProtocolErrorCode.FIELD_COUNT };
  const [verb, name, deps] = fields as [string, string, string];
  if (verb !== 'INDEX' && verb !== 'REMOVE' && verb !== 'QUERY')
    return { verb: null, error: ProtocolErrorCode.UNKNOWN_COMMAND };
  const valid = (n: string): boolean => /^[A-Za-z0-9._+\-@/:]+$/.test(n) && n.length <= 255;
  if (name === '') return { verb: null, error: ProtocolErrorCode.EMPTY_NAME };
  if (name.length > 255) return { verb: null, error: ProtocolErrorCode.NAME_TOO_LONG };
  if (!valid(name)) return { verb: null, error: ProtocolErrorCode.INVALID_NAME };
  if (verb !== 'INDEX')
    return deps === '' ? { verb, name } : { verb: null, error: ProtocolErrorCode.UNEXPECTED_DEPENDENCIES };
  if (deps === '') return { verb, name, deps: [] };
  const items = deps.split(',');
  for (const item of items) {
    if (item === '') return { verb: null, error: ProtocolErrorCode.EMPTY_DEPENDENCY };
    if (!valid(item)) return { verb: null, error: ProtocolErrorCode.INVALID_DEPENDENCY };
  }
  return { verb, name, deps: items };
}

test('property: the parser agrees with the model on near-valid lines', () => {
  const piece = fc.oneof(
    nameArb,
    fc.constantFrom('INDEX', 'REMOVE', 'QUERY', 'index', '', '|', ',', '\r', ' ', 'a,,b', '\u00e9'),
  );
  const line = fc
    .array(fc.tuple(piece, fc.constantFrom('|', ',', '')), { maxLength: 7 })
    .map((parts) => parts.map(([p, sep]) => p + sep).join(''));
  const structured = fc
    .tuple(
      fc.constantFrom('INDEX', 'REMOVE', 'QUERY', 'QUERYY'),
      piece,
      fc.array(piece, { maxLength: 4 }),
      fc.boolean(),
    )
    .map(([v, n, d, cr]) => `${v}|${n}|${d.join(',')}${cr ? '\r' : ''}`);
  fc.assert(
    fc.property(fc.oneof(line, structured), (text) => {
      assert.deepEqual(parse(Buffer.from(text, 'latin1')), model(text));
    }),
    { numRuns: 3000 },
  );
});

test('property: formatCommand and parseLine are inverse on valid commands', () => {
  const command = fc.oneof(
    fc.record({
      verb: fc.constant('INDEX' as const),
      name: nameArb,
      deps: fc.array(nameArb, { maxLength: 5 }),
    }),
    fc.record({ verb: fc.constant('REMOVE' as const), name: nameArb }),
    fc.record({ verb: fc.constant('QUERY' as const), name: nameArb }),
  );
  fc.assert(
    fc.property(command, (cmd) => {
      const line = Buffer.from(formatCommand(cmd), 'latin1');
      assert.deepEqual(parseLine(line, 0, line.length - 1), { ...cmd });
    }),
  );
});

test('property: arbitrary bytes never throw and always yield a command or a known error', () => {
  const codes = new Set<string>(Object.values(ProtocolErrorCode));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = parseLine(Buffer.from(bytes), 0, bytes.length);
      if (r.verb === null) assert.ok(codes.has(r.error));
      else assert.ok(['INDEX', 'REMOVE', 'QUERY'].includes(r.verb));
    }),
    { numRuns: 2000 },
  );
});

test('property: a line inside a larger buffer is parsed without reading past its end', () => {
  // The fast path scans each name up to the byte that ends it; the line's end must stop it
  // even when the bytes after it would continue the name, close a field or add a dependency.
  const junk = fc.array(fc.constantFrom('a', 'Z', '9', '|', ',', '\r', ' ', 'QUERY|'), { maxLength: 4 });
  const command = fc.oneof(
    fc.tuple(fc.constant('INDEX'), nameArb, fc.array(nameArb, { maxLength: 4 })),
    fc.tuple(fc.constantFrom('QUERY', 'REMOVE'), nameArb, fc.constant([] as string[])),
  );
  fc.assert(
    fc.property(command, junk, junk, fc.boolean(), ([verb, name, deps], before, after, cr) => {
      const line = `${verb}|${name}|${deps.join(',')}${cr ? '\r' : ''}`;
      const head = before.join('');
      const buf = Buffer.from(head + line + after.join(''), 'latin1');
      assert.deepEqual(
        parseLine(buf, head.length, head.length + line.length),
        parse(line),
        JSON.stringify([head, line, after]),
      );
    }),
    { numRuns: 2000 },
  );
});

test('indexLineError: why INDEX|name|deps is answered ERROR, as the field is written', () => {
  assert.equal(indexLineError('newp', 'a,b'), null);
  assert.equal(indexLineError('newp', ''), null);
  assert.equal(indexLineError('newp', 'a,,b'), ProtocolErrorCode.EMPTY_DEPENDENCY);
  assert.equal(indexLineError('newp', 'glib,'), ProtocolErrorCode.EMPTY_DEPENDENCY);
  assert.equal(indexLineError('newp', 'bad name'), ProtocolErrorCode.INVALID_DEPENDENCY);
  assert.equal(indexLineError('bad name', 'glib'), ProtocolErrorCode.INVALID_NAME);
  assert.equal(indexLineError('', 'glib'), ProtocolErrorCode.EMPTY_NAME);
  assert.equal(indexLineError('x'.repeat(300), 'glib'), ProtocolErrorCode.NAME_TOO_LONG);
  assert.equal(indexLineError('é', ''), ProtocolErrorCode.INVALID_NAME);
  assert.equal(indexLineError('a|b', ''), ProtocolErrorCode.FIELD_COUNT);
});
