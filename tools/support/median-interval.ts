/**
 * A confidence interval for the median of a sample, without assuming any distribution: the
 * order statistics x(k) and x(n-k+1), with k the largest rank such that fewer than k of n
 * samples fall below the true median with probability at most (1 - confidence) / 2 (the sign
 * test: each sample is below the median with probability 1/2). This machine's rounds scatter
 * by 1.5-2×, far from normal, so a mean and standard deviation would say little; this says
 * how far the median of the per-round ratios can be trusted.
 */
export interface MedianInterval {
  readonly low: number;
  readonly high: number;
  /** The coverage actually reached (at least the one asked, from the discrete binomial). */
  readonly confidence: number;
}

/** P(Binomial(n, 1/2) <= j), for j from 0 to n. */
function binomialHalfCdf(n: number): number[] {
  const cdf: number[] = [];
  let coefficient = 1;
  let sum = 0;
  const scale = 2 ** -n;
  for (let j = 0; j <= n; j++) {
    sum += coefficient * scale;
    cdf.push(sum);
    coefficient = (coefficient * (n - j)) / (j + 1);
  }
  return cdf;
}

/** The interval for `values`' median at `confidence` (default 0.95), or null when too few. */
export function medianInterval(values: readonly number[], confidence = 0.95): MedianInterval | null {
  const n = values.length;
  if (n === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const cdf = binomialHalfCdf(n);
  const tail = (1 - confidence) / 2;
  // The interval [x(k), x(n-k+1)] misses the median with probability 2 * P(B <= k - 1).
  let k = 0;
  while (k + 1 <= n && cdf[k]! <= tail) k++;
  if (k === 0) return null;
  return { low: sorted[k - 1]!, high: sorted[n - k]!, confidence: 1 - 2 * cdf[k - 1]! };
}
