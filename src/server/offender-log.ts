import type { Logger } from 'pino';

/** Keys remembered at most; past it the table starts again (an offender is logged anew). */
const MAX_KEYS = 10_000;

/**
 * Log lines about offending clients, at most one per key (a peer and what it did) per
 * interval, each saying how many events it stands for. A flood of refused connections or
 * rate-limited lines costs one line per offender per interval, not one per event.
 */
export class OffenderLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  /** key → [time of the last line, events since]. */
  readonly #seen = new Map<string, [number, number]>();

  constructor(log: Logger, intervalMs = 10_000) {
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** Logs `msg` with `fields` and the count of events since the last line for `key`, if due. */
  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = performance.now();
    const seen = this.#seen.get(key);
    if (seen !== undefined && now - seen[0] < this.#intervalMs) {
      seen[1]++;
      return;
    }
    if (this.#seen.size >= MAX_KEYS) this.#seen.clear();
    this.#seen.set(key, [now, 0]);
    this.#log.warn({ ...fields, events: (seen?.[1] ?? 0) + 1, perSeconds: this.#intervalMs / 1000 }, msg);
  }
}
