import { test } from 'node:test';
import assert from 'node:assert/strict';
import { medianInterval } from '../../tools/support/median-interval.js';

test('the interval is the order statistics the sign test gives, with their coverage', () => {
  // n = 15: P(B <= 3) = 0.0176 <= 0.025 < P(B <= 4) = 0.0592, so k = 4: [x(4), x(12)].
  const values = [15, 3, 9, 1, 12, 7, 5, 14, 2, 11, 8, 4, 13, 6, 10];
  const interval = medianInterval(values);
  assert.ok(interval !== null);
  assert.equal(interval.low, 4);
  assert.equal(interval.high, 12);
  assert.ok(Math.abs(interval.confidence - (1 - 2 * 0.017578125)) < 1e-12);
});

test('six samples give the whole range at 96.9 %; five are too few for 95 %', () => {
  const six = medianInterval([0.9, 1.1, 1.0, 0.95, 1.05, 0.97]);
  assert.deepEqual(six, { low: 0.9, high: 1.1, confidence: 1 - 2 / 64 });
  assert.equal(medianInterval([1, 2, 3, 4, 5]), null);
  assert.equal(medianInterval([]), null);
  // A lower confidence is reachable with fewer samples.
  assert.deepEqual(medianInterval([1, 2, 3, 4, 5], 0.9), { low: 1, high: 5, confidence: 1 - 2 / 32 });
});

test('the coverage it claims holds when sampling a known median', () => {
  // A deterministic generator: samples uniform on [0, 2), true median 1.
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (2 * seed) / 2147483648;
  };
  let covered = 0;
  const trials = 2000;
  for (let t = 0; t < trials; t++) {
    const interval = medianInterval(Array.from({ length: 15 }, next))!;
    if (interval.low <= 1 && 1 <= interval.high) covered++;
  }
  // Claimed 96.5 %; 2,000 trials put the observed share within about ±1.2 % of it.
  assert.ok(covered / trials > 0.945 && covered / trials < 0.985, `covered ${covered} of ${trials}`);
});
