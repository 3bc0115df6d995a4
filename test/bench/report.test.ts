import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUs, progressLine } from '../../src/bench/report.js';

test('latencies keep 3 significant digits in the unit that reads best: µs, ms, s', () => {
  assert.equal(formatUs(0), '0.00 µs');
  assert.equal(formatUs(999), '999 µs');
  assert.equal(formatUs(1000), '1.00 ms');
  assert.equal(formatUs(12_345), '12.3 ms');
  assert.equal(formatUs(999_499), '999 ms');
  assert.equal(formatUs(1_000_000), '1.00 s');
  assert.equal(formatUs(65_432_100), '65.4 s');
});

test('the progress line shows elapsed time, replies and the rate so far; no rate before time has passed', () => {
  assert.equal(progressLine(12_345, 2.5), '  2.5 s  12,345 replies  4,938 ops/s');
  assert.equal(progressLine(0, 0), '  0.0 s  0 replies  0 ops/s');
  assert.equal(progressLine(10, 0), '  0.0 s  10 replies  0 ops/s', 'not Infinity ops/s');
});
