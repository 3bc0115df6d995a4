import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBrew } from '../../src/import/brew.js';
import { readLines } from '../../src/import/read-lines.js';

const FIXTURE = 'bench/brew-dependencies.txt';

test('the Homebrew list: every line a package, deps split on runs of spaces', async () => {
  const parsed = await parseBrew(readLines([FIXTURE]));
  assert.equal(parsed.format, 'brew');
  assert.equal(parsed.packages.length, 3368);
  assert.equal(parsed.warningCount, 0);
  const abcde = parsed.packages.find((p) => p.name === 'abcde');
  assert.ok(abcde);
  assert.deepEqual(abcde.deps.slice(0, 3), ['autoconf', 'automake', 'cd-discid']);
  assert.equal(abcde.deps.length, 23);
  // `abcm2ps:` ends with a trailing space in the real file; it must not make an empty dep.
  const abcm2ps = parsed.packages.find((p) => p.name === 'abcm2ps');
  assert.equal(abcm2ps?.deps.at(-1), 'xz');
  assert.deepEqual(parsed.packages.find((p) => p.name === 'a2ps')?.deps, []);
});

test('brew edge cases: tabs, comments, blank lines, colons in names, bad lines, repeats', async () => {
  const parsed = await parseBrew([
    '# a comment',
    '',
    'a:',
    'b:\ta\t c',
    'c:  ',
    'scope:pkg: a',
    'no colon here',
    'b: a',
  ]);
  assert.deepEqual(parsed.packages, [
    { name: 'a', deps: [] },
    { name: 'c', deps: [] },
    { name: 'scope:pkg', deps: ['a'] },
    { name: 'b', deps: ['a'] },
  ]);
  assert.equal(parsed.warningCount, 2);
  assert.equal(parsed.warnings[0]?.line, 7);
  assert.match(parsed.warnings[1]!.message, /listed again/);
  assert.equal(parsed.counters['duplicate packages'], 1);
});
