import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseSource } from '../../src/import/formats.js';

/** The lines of `text` as the async source the CLI hands to parseSource. */
function lines(text: string): AsyncIterable<string> {
  return Readable.from(text.split('\n'));
}

test('the format is recognised from the first meaningful line', async () => {
  const debian = await parseSource(lines('\n# comment\npackage: a\nDepends: b\n\nPackage: b\n'), 'auto');
  assert.equal(debian.format, 'debian');
  assert.deepEqual(debian.packages, [
    { name: 'a', deps: ['b'] },
    { name: 'b', deps: [] },
  ]);
  const status = await parseSource(lines('Package: a\nStatus: install ok installed\n'), 'auto');
  assert.equal(status.format, 'dpkg-status');
  const brew = await parseSource(lines('\na: b c\nb:\nc:\n'), 'auto');
  assert.equal(brew.format, 'brew');
  assert.equal(brew.packages.length, 3);
});

test('an explicit format is obeyed, and an empty source is an error', async () => {
  // Read as brew, each Debian field line is a package named after the field.
  const forced = await parseSource(lines('Package: a\nDepends: b\n'), 'brew');
  assert.deepEqual(
    forced.packages.map((p) => p.name),
    ['Package', 'Depends'],
  );
  await assert.rejects(parseSource(lines('\n\n# nothing\n'), 'auto'), {
    code: 'E_IMPORT_FORMAT',
    message: /empty/,
  });
});
