import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ExportedHistogram } from '../../src/observability/exported-histogram.js';

test('a histogram whose source has nothing yet exports its name and type and no series', async () => {
  const registry = new Registry();
  const histogram = new ExportedHistogram({
    name: 'pkgindex_test_seconds',
    help: 'A test histogram.',
    registry,
    source: () => null,
    scale: 0.001,
  });
  assert.deepEqual((await histogram.get()).values, []);
  const text = await registry.metrics();
  assert.match(text, /^# TYPE pkgindex_test_seconds histogram$/m);
  assert.doesNotMatch(text, /pkgindex_test_seconds_bucket/);
});
