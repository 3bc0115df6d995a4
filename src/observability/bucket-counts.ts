import { createError } from '../errors.js';

/**
 * A histogram as plain numbers: the hot path calls `record`, which only compares and
 * increments; the metrics exporter reads the counts at scrape time. Counts are per bucket
 * (not cumulative); the last slot counts values above every bound (the `+Inf` bucket).
 */
export class BucketCounts {
  /** Upper bounds, ascending, in the unit of the recorded values. */
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i]! > bounds[i - 1]!))
        throw createError(
          'E_INVALID_ARGUMENT',
          `bucket bounds must be strictly ascending, got ${bounds.join(', ')}`,
        );
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  record(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** Adds samples counted elsewhere in the same buckets (a socket thread's, ADR 0010). */
  merge(counts: ArrayLike<number>, sum: number, count: number): void {
    for (let i = 0; i < this.counts.length && i < counts.length; i++) this.counts[i]! += counts[i]!;
    this.sum += sum;
    this.count += count;
  }
}

/** Bounds of the command latency histogram, in milliseconds (exported in seconds). */
export const COMMAND_LATENCY_BOUNDS_MS: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
];
