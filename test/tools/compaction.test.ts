/**
 * `measure compaction`: fills one segment with the benchmark's mutations and folds it. Runs the
 * real tool in a child process, as a user does, on a small segment; the figures it prints are
 * for docs/benchmarks.md, this only checks that it measures what it says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MEASURE = fileURLToPath(new URL('../../tools/measure.js', import.meta.url));

test('measure compaction folds a segment of the logged mutations per run and build, with profiles on request', () => {
  const profiles = mkdtempSync(join(tmpdir(), 'pkgindex-compaction-prof-'));
  try {
    const run = spawnSync(
      process.execPath,
      [MEASURE, 'compaction', '--commands', '20000', '--runs', '2', '--cpu-prof', profiles],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const found = /One segment of ([\d,]+) records/.exec(run.stdout);
    assert.ok(found !== null, run.stdout);
    // Every REMOVE and every INDEX that changes a list is logged; about half the workload's
    // REMOVEs are refused (the package is required), so fewer records than commands.
    const records = Number(found[1]!.replaceAll(',', ''));
    assert.ok(records > 5_000 && records < 20_000 + 4_000, `${records} records`);
    assert.match(run.stdout, /\| file:\/\/.*\/dist\/ \| \d+ \| \d+\.\d{3} \| 1\.000 \|/);
    assert.equal(readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile')).length, 2);
  } finally {
    rmSync(profiles, { recursive: true, force: true });
  }
});

test('measure compaction --warm measures a second fold in the process, as in a kept compaction thread', () => {
  const run = spawnSync(
    process.execPath,
    [MEASURE, 'compaction', '--commands', '20000', '--runs', '1', '--warm'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stdout,
    /folded 1 times per build, each after a first fold in the same process \(--warm\)/,
  );
  assert.match(run.stdout, /\| file:\/\/.*\/dist\/ \| \d+ \| \d+\.\d{3} \| 1\.000 \|/);
});
