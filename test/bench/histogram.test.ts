import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BUCKET_COUNT, Histogram, bucketHigh, bucketLow, bucketOf } from '../../src/bench/histogram.js';

const MAX = 2 ** 40 - 1;

test('every value falls in a bucket whose bounds contain it, at most 1/128 wide', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX }), (v) => {
      const i = bucketOf(v);
      assert.ok(i >= 0 && i < BUCKET_COUNT, `bucket ${i} of ${v}`);
      assert.ok(bucketLow(i) <= v && v <= bucketHigh(i), `${v} outside [${bucketLow(i)}, ${bucketHigh(i)}]`);
      assert.ok(bucketHigh(i) - bucketLow(i) <= Math.max(0, bucketLow(i) / 128), `bucket ${i} too wide`);
    }),
  );
});

test('buckets tile the range without gaps or overlaps', () => {
  assert.equal(bucketLow(0), 0);
  for (let i = 1; i < BUCKET_COUNT; i++) assert.equal(bucketLow(i), bucketHigh(i - 1) + 1, `bucket ${i}`);
  assert.equal(bucketOf(MAX), BUCKET_COUNT - 1);
  assert.equal(bucketHigh(BUCKET_COUNT - 1), MAX);
});

test('quantiles are within one bucket above the exact order statistic', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 10_000_000_000 }), { minLength: 1, maxLength: 300 }),
      (values) => {
        const h = new Histogram();
        for (const v of values) h.record(v);
        const sorted = values.slice().sort((a, b) => a - b);
        for (const q of [0.5, 0.9, 0.99, 0.999, 1]) {
          const exact = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
          const got = h.quantile(q);
          assert.ok(got >= exact && got <= exact + exact / 128 + 1, `q${q}: ${got} vs exact ${exact}`);
        }
        assert.equal(h.min, sorted[0]);
        assert.equal(h.max, sorted[sorted.length - 1]);
        assert.equal(h.count, values.length);
      },
    ),
  );
});

test('merging histograms is the same as recording every value in one', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7919) % 100_003;
    (i % 3 === 0 ? a : b).record(v);
    all.record(v);
  }
  const merged = Histogram.from(a.snapshot());
  merged.merge(b.snapshot());
  assert.deepEqual(merged.snapshot(), all.snapshot());
});

test('an empty histogram reports zeros; out-of-range values are clamped, not lost', () => {
  const h = new Histogram();
  assert.equal(h.quantile(0.5), 0);
  assert.equal(h.min, 0);
  assert.equal(h.mean, 0);
  h.record(-5);
  h.record(2 ** 50);
  h.record(Number.NaN);
  assert.equal(h.count, 3);
  assert.equal(h.min, 0);
  assert.equal(h.max, MAX);
});
