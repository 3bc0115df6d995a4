import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutLength } from '../../tools/load/ab.js';

test("measure ab's warm-up run: the measured run's load without its length, in any spelling", () => {
  assert.deepEqual(
    withoutLength(['--connections', '100', '--duration', '3', '--in-flight', '32', '--mix', 'index=50']),
    ['--connections', '100', '--in-flight', '32', '--mix', 'index=50'],
  );
  assert.deepEqual(withoutLength(['-d', '3', '--ops=500', '--duration=4', '--connections', '1']), [
    '--connections',
    '1',
  ]);
  assert.deepEqual(withoutLength(['--ops', '1000', '--in-flight', '1']), ['--in-flight', '1']);
});
