/**
 * What every query of the index shares: its bounds. A query reads the graph as one
 * synchronous call, or as steps (`Steps`) that a caller may spread over turns of the event loop
 * and must start again if the graph changes between them, so it describes one consistent state;
 * it never does more than a fixed amount of work in all. Where a full answer would cost more,
 * the answer says so (`truncated`, `exact: false`, `ready: false`) instead of taking longer.
 */

/** Items per page when the caller does not say. */
export const DEFAULT_LIMIT = 100;
/** Most items per page. */
export const MAX_LIMIT = 1000;
/**
 * Packages and edges a query may visit by default: about 2-5 ms on the development machine
 * (see docs/performance.md), and more than the largest closure of Debian's archive (~60,000).
 */
export const DEFAULT_MAX_VISITS = 100_000;

/** A page of a list sorted by name; `next` is the cursor for the following page, null at the end. */
export interface Page<T> {
  readonly items: readonly T[];
  /** The name to pass as `after` for the next page; null when nothing follows. */
  readonly next: string | null;
}

export interface PageOptions {
  /** Only names after this one (exclusive): the previous page's `next`. */
  readonly after?: string;
  /** Items per page, 1 to MAX_LIMIT (default DEFAULT_LIMIT). */
  readonly limit?: number;
}

export interface WalkOptions {
  /** Most packages plus edges the query may visit (default DEFAULT_MAX_VISITS). */
  readonly maxVisits?: number;
}

/** The page size asked for, clamped to [1, MAX_LIMIT]. */
export function pageLimit(options: PageOptions): number {
  const limit = options.limit ?? DEFAULT_LIMIT;
  return Number.isFinite(limit) ? Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit))) : DEFAULT_LIMIT;
}

/** The visit budget asked for, at least 1. */
export function visitBudget(options: WalkOptions): number {
  const max = options.maxVisits ?? DEFAULT_MAX_VISITS;
  return max >= 1 ? Math.floor(max) : 1;
}

/**
 * A query that can pause: a generator that yields after every STEP_VISITS packages or edges
 * (or so) and returns the answer. Synchronous callers run it to the end at once (`finish`); the
 * server's reader runs a few steps per event-loop turn, within a time budget, and restarts it
 * if the graph changed between two turns, so the answer still describes one state of the index.
 */
export type Steps<T> = Generator<void, T, void>;

/** Visits between two pauses of a query: a few tens of microseconds of work. */
export const STEP_VISITS = 1024;

/** Runs `steps` to the end, in one call. */
export function finish<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}
