#!/usr/bin/env node
// What the per-chunk latency measurement adds to the hot path, in isolation: two
// performance.now() reads and one BucketCounts.record() per read chunk (see
// Connection#onData). End-to-end benchmarks on a shared machine cannot resolve a cost this
// small; this can. Run after `npm run build`:  node scripts/latency-clock-cost.mjs
import { BucketCounts, COMMAND_LATENCY_BOUNDS_MS } from '../dist/src/observability/bucket-counts.js';

const N = 5_000_000;
const ROUNDS = 7;

function instrumented(h) {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const arrivedAt = performance.now();
    sink += i & 7; // stand-in for the chunk's work
    h.record(performance.now() - arrivedAt);
  }
  return sink;
}

function bare() {
  let sink = 0;
  for (let i = 0; i < N; i++) sink += i & 7;
  return sink;
}

const per = [];
for (let r = 0; r < ROUNDS; r++) {
  const h = new BucketCounts(COMMAND_LATENCY_BOUNDS_MS);
  let t = process.hrtime.bigint();
  bare();
  const bareNs = Number(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  instrumented(h);
  const instNs = Number(process.hrtime.bigint() - t);
  if (h.count !== N) throw new Error('not all samples recorded');
  per.push((instNs - bareNs) / N);
}
per.sort((a, b) => a - b);
console.log(
  `latency measurement: median ${per[(ROUNDS - 1) / 2].toFixed(1)} ns per read chunk ` +
    `(min ${per[0].toFixed(1)}, max ${per[ROUNDS - 1].toFixed(1)}; ${ROUNDS} rounds of ${N} chunks)`,
);
