/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015): the delay before retry `attempt` (0-based) is uniform in
 * [0, min(maxMs, baseMs × 2^attempt)), so that clients cut off together by a restart do not
 * come back together.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The delay before retry `attempt`; `random` returns a number in [0, 1). */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
