/**
 * `measure crash`: the long crash test. Its cycles are tested in test/store/crash.test.ts; this
 * checks, cheaply, that the arguments after `--` reach every server it starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MEASURE = fileURLToPath(new URL('../../tools/measure.js', import.meta.url));

test('measure crash hands the arguments after -- to the server (one it refuses fails the run)', () => {
  const run = spawnSync(
    process.execPath,
    [MEASURE, 'crash', '--cycles', '1', '--seeds', '1', '--', '--threads', 'many'],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.notEqual(run.status, 0, run.stdout);
  assert.match(run.stdout + run.stderr, /--threads must be a whole number/);
});
