/**
 * A log-linear latency histogram in the manner of HdrHistogram: values are integer
 * nanoseconds; below 2^SUB_BITS each value has its own bucket, above it every power of two
 * is split into 2^SUB_BITS equal buckets, so a recorded value is known to within 1/128
 * (0.8 %). Memory is fixed (a few thousand counters) whatever the number of samples, and
 * recording is a handful of arithmetic operations, so it can sit on the generator's hot path.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Values at or above 2^MAX_EXP ns (about 18 minutes) are clamped into the last bucket. */
const MAX_EXP = 40;
const MAX_VALUE = 2 ** MAX_EXP - 1;
const TWO_32 = 2 ** 32;

/** Number of buckets: the linear range, then SUB buckets per power of two above it. */
export const BUCKET_COUNT = SUB + (MAX_EXP - SUB_BITS) * SUB;

/** Index of the bucket holding `v` (an integer, 0 ≤ v ≤ MAX_VALUE). */
export function bucketOf(v: number): number {
  if (v < SUB) return v;
  if (v < TWO_32) {
    // Latencies below 4.3 s: integer operations only, this runs once per reply.
    const shift = 31 - Math.clz32(v) - SUB_BITS;
    return SUB + shift * SUB + ((v >>> shift) - SUB);
  }
  const shift = 63 - Math.clz32(Math.floor(v / TWO_32)) - SUB_BITS;
  return SUB + shift * SUB + (Math.floor(v / 2 ** shift) - SUB);
}

/** The smallest value that falls in bucket `i`. */
export function bucketLow(i: number): number {
  if (i < SUB) return i;
  const shift = Math.floor((i - SUB) / SUB);
  return (SUB + ((i - SUB) % SUB)) * 2 ** shift;
}

/** The largest value that falls in bucket `i`. */
export function bucketHigh(i: number): number {
  return i + 1 >= BUCKET_COUNT ? MAX_VALUE : bucketLow(i + 1) - 1;
}

/** What a histogram holds, in a form that crosses a worker_threads boundary. */
export interface HistogramSnapshot {
  readonly counts: Uint32Array;
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

export class Histogram {
  #counts = new Uint32Array(BUCKET_COUNT);
  #count = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  get count(): number {
    return this.#count;
  }

  /** Records one value in nanoseconds; negative and fractional values are rounded into range. */
  record(ns: number): void {
    let v = Math.round(ns);
    if (!(v >= 0)) v = 0;
    else if (v > MAX_VALUE) v = MAX_VALUE;
    this.#counts[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Adds every sample of another histogram (from another connection or worker). */
  merge(other: HistogramSnapshot): void {
    const counts = this.#counts;
    for (let i = 0; i < BUCKET_COUNT; i++) counts[i]! += other.counts[i]!;
    this.#count += other.count;
    this.#sum += other.sum;
    if (other.count > 0) {
      if (other.min < this.#min) this.#min = other.min;
      if (other.max > this.#max) this.#max = other.max;
    }
  }

  snapshot(): HistogramSnapshot {
    return {
      counts: this.#counts.slice(),
      count: this.#count,
      min: this.#min,
      max: this.#max,
      sum: this.#sum,
    };
  }

  static from(snapshot: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.merge(snapshot);
    return h;
  }

  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  get max(): number {
    return this.#max;
  }

  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /**
   * The value at quantile `q` (0 < q ≤ 1): the upper edge of the bucket holding the
   * ceil(q × count)-th smallest sample, never above the exact maximum. 0 when empty.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.max(this.min, Math.min(bucketHigh(i), this.#max));
    }
    return this.#max;
  }
}
