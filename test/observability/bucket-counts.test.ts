import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { BucketCounts } from '../../src/observability/bucket-counts.js';
import { ExportedHistogram } from '../../src/observability/exported-histogram.js';

test('BucketCounts puts each value in the first bucket whose bound is not below it', () => {
  const h = new BucketCounts([1, 5, 10]);
  for (const v of [0, 1, 1.5, 5, 10, 11, 1000]) h.record(v);
  assert.deepEqual([...h.counts], [2, 2, 1, 2]);
  assert.equal(h.count, 7);
  assert.equal(h.sum, 1028.5);
});

test('BucketCounts rejects bounds that are not strictly ascending', () => {
  assert.throws(() => new BucketCounts([1, 1]), { code: 'E_INVALID_ARGUMENT' });
});

test('ExportedHistogram prints cumulative buckets, +Inf, sum and count, scaled', async () => {
  const h = new BucketCounts([0.5, 2]);
  for (const v of [0.25, 1, 1, 3]) h.record(v);
  const registry = new Registry();
  new ExportedHistogram({ name: 'x_seconds', help: 'x', registry, source: () => h, scale: 0.25 });
  const text = await registry.metrics();
  assert.equal(
    text,
    [
      '# HELP x_seconds x',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{le="0.125"} 1',
      'x_seconds_bucket{le="0.5"} 3',
      'x_seconds_bucket{le="+Inf"} 4',
      'x_seconds_sum 1.3125',
      'x_seconds_count 4',
      '',
    ].join('\n'),
  );
  assert.equal((await registry.getMetricsAsJSON())[0]?.name, 'x_seconds');
});
