import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BucketCounts, COMMAND_LATENCY_BOUNDS_MS } from '../../src/observability/bucket-counts.js';
import { LiveSignals, quantile } from '../../src/observability/live-signals.js';
import { Reply } from '../../src/protocol/reply.js';
import { ServerStats } from '../../src/server/stats.js';

function sources() {
  const stats = new ServerStats();
  const latency = new BucketCounts(COMMAND_LATENCY_BOUNDS_MS);
  const sync = new BucketCounts([1, 10, 100]);
  let writable = true;
  const store = {
    health: () => ({ recovered: true, writable, ...(writable ? {} : { detail: 'disk full' }) }),
    stats: () => ({ packages: 7, edges: 9 }),
  };
  return {
    sources: { stats, latency, sync, store, server: { listening: true, draining: false } },
    setWritable: (w: boolean): void => {
      writable = w;
    },
  };
}

test('a sample gives per-second rates of what the counters gained since the last one', () => {
  const { sources: s, setWritable } = sources();
  const add = (row: number, reply: Reply, n: number): void => {
    s.stats.commands[row * 3 + reply] = s.stats.commands[row * 3 + reply]! + n;
  };
  add(2, Reply.OK, 100); // counted before: not in the first sample
  const live = new LiveSignals(s, 0);
  add(2, Reply.OK, 50); // QUERY OK
  add(0, Reply.FAIL, 10); // INDEX FAIL
  add(3, Reply.ERROR, 4); // INVALID ERROR
  s.stats.linesTooLong += 1;
  s.stats.connectionsOpen = 3;
  s.stats.connectionsTotal = 5;
  for (let i = 0; i < 98; i++) s.latency.record(0.07);
  s.latency.record(40);
  s.latency.record(40);
  s.sync.record(5);
  const first = live.sample(2000);
  assert.equal(first.seconds, 2);
  assert.deepEqual(first.commands, { INDEX: 5, REMOVE: 0, QUERY: 25, INVALID: 2 });
  assert.deepEqual(first.results, { OK: 25, FAIL: 5, ERROR: 2 });
  assert.equal(first.errors, 2.5);
  assert.equal(first.connections, 3);
  assert.equal(first.accepted, 2.5);
  assert.ok(first.latencyP50! > 0.05 && first.latencyP50! <= 0.1, String(first.latencyP50));
  assert.ok(first.latencyP99! > 25 && first.latencyP99! <= 50, String(first.latencyP99));
  assert.equal(first.syncs, 0.5);
  assert.deepEqual([first.packages, first.edges, first.ready], [7, 9, true]);

  setWritable(false);
  const second = live.sample(3000);
  assert.deepEqual(second.results, { OK: 0, FAIL: 0, ERROR: 0 });
  assert.equal(second.latencyP99, null, 'no chunk in the interval: no latency');
  assert.equal(second.syncP99, null);
  assert.deepEqual(second.store, { recovered: true, writable: false, detail: 'disk full' });
  assert.equal(second.ready, false);
});

test('quantile: null when empty; within the bucket holding the rank; the last bound above all', () => {
  assert.equal(quantile([1, 2], [0, 0, 0], 0.5), null);
  assert.equal(quantile([1, 2], [0, 0, 5], 0.99), 2);
  assert.equal(quantile([1, 2], [0, 4, 0], 0.5), 1.5);
  fc.assert(
    fc.property(
      fc.array(fc.nat(1000), { minLength: 4, maxLength: 4 }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      (counts, q) => {
        const bounds = [1, 2, 4];
        const total = counts.reduce((a, b) => a + b, 0);
        const value = quantile(bounds, counts, q);
        if (total === 0) return value === null;
        // The bucket the rank falls in bounds the estimate.
        let seen = 0;
        let bucket = 0;
        while (bucket < 3 && seen + counts[bucket]! < q * total) seen += counts[bucket++]!;
        while (bucket < 3 && counts[bucket] === 0) bucket++;
        const lower = bucket === 0 ? 0 : bounds[bucket - 1]!;
        const upper = bounds[Math.min(bucket, 2)]!;
        return value !== null && value >= lower - 1e-9 && value <= upper + 1e-9;
      },
    ),
  );
});
