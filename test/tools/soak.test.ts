/**
 * `measure soak`: a durable server under a sustained load, its memory sampled. Runs the real
 * tool in a child process, as a user does, for a few seconds with a small compaction threshold,
 * so that the short run still rotates and compacts; the figures it prints are for
 * docs/benchmarks.md, this checks that it samples and judges what it says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { troughs } from '../../tools/load/soak.js';

const MEASURE = fileURLToPath(new URL('../../tools/measure.js', import.meta.url));

test('the growth judged is the lowest anonymous memory of the last third against the middle third', () => {
  const at = (rssAnon: number[]) =>
    rssAnon.map((a, i) => ({ t: i, rss: a, rssAnon: a, compactions: 0, commits: 0 }));
  // Peaks anywhere do not count; a trough that rises does.
  assert.deepEqual(troughs(at([50, 90, 60, 61, 95, 60, 62, 99, 61])), { middle: 60, last: 61 });
  assert.deepEqual(troughs(at([50, 51, 52, 60, 61, 62, 80, 81, 82])), { middle: 60, last: 80 });
  assert.equal(troughs(at([50, 51])), null, 'too few samples for thirds');
});

test('measure soak samples a compacting durable server and reports its load and memory', () => {
  const run = spawnSync(
    process.execPath,
    [
      MEASURE,
      'soak',
      // Seven samples, so that each third's lowest is taken over two or three of them: with
      // three samples of one each, one young-generation peak at the last failed the run
      // (+18.4 MB, 2026-12-03, the whole suite running beside it).
      '--seconds',
      '8',
      '--every',
      '1',
      '--connections',
      '20',
      '--',
      '--compact-after-bytes',
      '65536',
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const rows = run.stdout.split('\n').filter((l) => /^\| \d+ \| [\d.]+ \| [\d.]+ \| \d+ \| \d+ \|$/.test(l));
  assert.equal(rows.length, 7, run.stdout);
  const compactions = Number(rows.at(-1)!.split('|')[4]);
  assert.ok(compactions > 0, `a 64 KiB threshold compacts within seconds:\n${run.stdout}`);
  assert.match(run.stdout, /protocol errors 0/);
  assert.match(
    run.stdout,
    /memory: lowest RssAnon [\d.]+ MB in the middle third, [\d.]+ MB in the last: [+-][\d.]+ MB \(flat;/,
  );
});
