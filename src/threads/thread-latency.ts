import type { LatencyRecorder } from '../server/stats.js';

/** A histogram's counts as a socket thread reports them; per bucket, not cumulative. */
export interface LatencyCounts {
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * Command latency counted in a socket thread, in the buckets of the owner's histogram (whose
 * bounds the owner passes at start), reported with the thread's counters; the owner adds what
 * is new since the last report to its own histogram, so /metrics shows one series for every
 * thread (ADR 0010).
 */
export class ThreadLatency implements LatencyRecorder {
  readonly bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  record(ms: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += ms;
    this.#count++;
  }

  snapshot(): LatencyCounts {
    return { counts: Array.from(this.#counts), sum: this.#sum, count: this.#count };
  }
}

/** What `now` adds to `before` (both cumulative snapshots of one thread). */
export function latencyDelta(now: LatencyCounts, before: LatencyCounts | null): LatencyCounts {
  if (before === null) return now;
  return {
    counts: now.counts.map((c, i) => c - (before.counts[i] ?? 0)),
    sum: now.sum - before.sum,
    count: now.count - before.count,
  };
}
