/**
 * `measure hot-path --messages N`: a fixed amount of work per round, so that two builds (and
 * `measure instructions`, which counts instructions at two values of N) run exactly the same
 * lines. Runs the real tool in a child process, as a user does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MEASURE = fileURLToPath(new URL('../../tools/measure.js', import.meta.url));

function measure(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [MEASURE, 'hot-path', ...args], { encoding: 'utf8' });
}

test('hot-path --messages feeds each round that many messages, in whole chunks, instead of a time', () => {
  // 100 messages in chunks of 32 lines: four chunks, 128 messages.
  const run = measure('--messages', '100', '--rounds', '2', '--batch', '32');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /median \d+ ns\/msg \(2 rounds of 128 messages\)/);
});

test('hot-path --store disk --messages runs whole turns of one chunk per connection, each a group commit', () => {
  // 2 connections × 32 lines a turn: 100 messages is two turns, 128 messages.
  const run = measure('--store', 'disk', '--messages', '100', '--rounds', '2', '--connections', '2');
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stdout,
    /durable mix .* 2×32: min \d+ ns\/msg, .*\(2 rounds of 128 messages, \d+ msg\/s wall\)/,
  );
});

test('measure instructions takes the disk store only with its options, and says which', () => {
  const run = spawnSync(process.execPath, [MEASURE, 'instructions', '--connections', '5'], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /--connections and --sync-mode are for --store disk only/);
  const bad = spawnSync(process.execPath, [MEASURE, 'instructions', '--store', 'postgres'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--store must be memory or disk, got "postgres"/);
});
