import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineFramer, type LineSink } from '../../src/protocol/framer.js';

/** Records what the framer reports: a line's text, or `<overlong>`. */
function collector(): LineSink & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    line(buf, start, end) {
      events.push(buf.toString('latin1', start, end));
    },
    overlong() {
      events.push('<overlong>');
    },
  };
}

function feed(framer: LineFramer, chunks: readonly Buffer[]): string[] {
  const sink = collector();
  for (const chunk of chunks) framer.push(chunk, sink);
  return sink.events;
}

test('splits many lines in one chunk, keeping empty lines', () => {
  assert.deepEqual(feed(new LineFramer(100), [Buffer.from('a\nbb\n\nccc\n')]), ['a', 'bb', '', 'ccc']);
});

test('joins a line fed one byte at a time', () => {
  const text = 'INDEX|a|b,c\nQUERY|a|\n';
  const chunks = [...Buffer.from(text)].map((b) => Buffer.from([b]));
  assert.deepEqual(feed(new LineFramer(100), chunks), ['INDEX|a|b,c', 'QUERY|a|']);
});

test('holds an unfinished line until its newline, and forgets it on reset', () => {
  const framer = new LineFramer(100);
  assert.deepEqual(feed(framer, [Buffer.from('QUERY|a|\nQUE')]), ['QUERY|a|']);
  assert.equal(framer.carriedBytes, 3);
  framer.reset();
  assert.equal(framer.carriedBytes, 0);
  assert.deepEqual(feed(framer, [Buffer.from('RY|b|\n')]), ['RY|b|']);
});

test('a line of exactly the maximum passes; one byte more is reported once and discarded', () => {
  const max = 10;
  assert.deepEqual(feed(new LineFramer(max), [Buffer.from(`${'x'.repeat(10)}\n`)]), ['x'.repeat(10)]);
  assert.deepEqual(feed(new LineFramer(max), [Buffer.from(`${'x'.repeat(11)}\nok\n`)]), ['<overlong>', 'ok']);
});

test('an over-long line split across chunks is reported once, as soon as it is known', () => {
  const framer = new LineFramer(8);
  const sink = collector();
  framer.push(Buffer.from('xxxxx'), sink);
  assert.deepEqual(sink.events, []);
  framer.push(Buffer.from('xxxxx'), sink);
  assert.deepEqual(sink.events, ['<overlong>']);
  for (let i = 0; i < 1000; i++) framer.push(Buffer.from('yyyyyyyy'), sink);
  assert.equal(framer.carriedBytes, 0, 'discarded bytes are not kept');
  framer.push(Buffer.from('yy\nQUERY|a|\n'), sink);
  assert.deepEqual(sink.events, ['<overlong>', 'QUERY|a|']);
});

test('a carried line that completes over the maximum is reported, not delivered', () => {
  assert.deepEqual(feed(new LineFramer(8), [Buffer.from('xxxxxx'), Buffer.from('xxx\nok\n')]), [
    '<overlong>',
    'ok',
  ]);
});

test('memory stays bounded for an endless line fed in small pieces', () => {
  const framer = new LineFramer(1024);
  const sink = collector();
  for (let i = 0; i < 100_000; i++) {
    framer.push(Buffer.from('abc'), sink);
    assert.ok(framer.carriedBytes <= 1024);
  }
  assert.deepEqual(sink.events, ['<overlong>']);
});

/** The lines, each with its `\n`, as one stream cut into chunks at the offsets `cuts` (modulo its length). */
function splitLines(lines: readonly string[], cuts: readonly number[]): Buffer[] {
  const whole = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1');
  const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of [...points, whole.length]) {
    chunks.push(whole.subarray(at, p));
    at = p;
  }
  return chunks;
}

test('property: any split of the stream yields the same lines as splitting the whole', () => {
  const lineArb = fc.string({ unit: fc.constantFrom('a', 'b', '|', ',', '\r'), maxLength: 20 });
  fc.assert(
    fc.property(
      fc.array(lineArb, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (lines, cuts) => {
        const max = 12;
        const chunks = splitLines(lines, cuts);
        const expected = lines.map((l) => (l.length > max ? '<overlong>' : l));
        assert.deepEqual(feed(new LineFramer(max), chunks), expected);
      },
    ),
    { numRuns: 1000 },
  );
});

/** A collector with the fast lane: it takes the lines made of `a` and `b` only. */
function fastCollector(): LineSink & { events: string[]; fast: number } {
  const sink = {
    ...collector(),
    fast: 0,
    lineAt(buf: Buffer, start: number, limit: number): number {
      let i = start;
      while (i < limit && (buf[i] === 0x61 || buf[i] === 0x62)) i++;
      if (i === limit || buf[i] !== 0x0a) return -1;
      sink.events.push(buf.toString('latin1', start, i));
      sink.fast++;
      return i;
    },
  };
  return sink;
}

test('property: a sink with the fast lane sees the same lines, and over-long ones, as one without', () => {
  const lineArb = fc.string({ unit: fc.constantFrom('a', 'b', '|', '\r'), maxLength: 20 });
  fc.assert(
    fc.property(
      fc.array(lineArb, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.integer({ min: 1, max: 16 }),
      (lines, cuts, max) => {
        const chunks = splitLines(lines, cuts);
        const fast = fastCollector();
        const framer = new LineFramer(max);
        for (const chunk of chunks) framer.push(chunk, fast);
        assert.deepEqual(fast.events, feed(new LineFramer(max), chunks));
      },
    ),
    { numRuns: 1000 },
  );
});

test('the fast lane takes whole lines in one chunk and never one over the maximum', () => {
  const sink = fastCollector();
  new LineFramer(4).push(Buffer.from('ab\nabab\nababa\nb\n'), sink);
  assert.deepEqual(sink.events, ['ab', 'abab', '<overlong>', 'b']);
  assert.equal(sink.fast, 3);
});
