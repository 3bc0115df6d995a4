/**
 * The connections that have read more than one slice of input, served in a round robin of
 * slices (issue 12, docs/adr/0012-fairness-and-limits.md "Fair rounds").
 *
 * A connection executes what it reads at once for at most one slice (`--slice-us`); the rest
 * of its read waits here, with its reading paused, and runs one slice per round. One round
 * runs per turn of the event loop (the check phase, after the turn's reads), gives each waiting
 * connection at most one slice, and stops once it has run for `--turn-budget-us`: whoever it
 * did not reach is first in the next round. So a turn of the loop costs at most one slice per
 * connection that read in it plus one round, however many clients pipeline, and a
 * request/response client (one short read) waits about that long, not for the pipeliners'
 * whole reads.
 */

/** What the queue runs: one slice of a connection's waiting input. */
export interface Runnable {
  /** Runs one slice; a connection with input still waiting enqueues itself again. */
  runSlice(): void;
}

export class RunQueue {
  readonly #roundMs: number;
  /** Waiting connections, oldest first: `#queue[#head..]`. */
  #queue: Runnable[] = [];
  #head = 0;
  #scheduled: NodeJS.Immediate | null = null;

  /** `roundUs`: how long one round may run (microseconds). */
  constructor(roundUs: number) {
    this.#roundMs = roundUs / 1000;
  }

  /** Connections waiting for a slice. */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues one slice of `r` behind every connection already waiting. */
  enqueue(r: Runnable): void {
    this.#queue.push(r);
    this.#schedule();
  }

  /** The next round, on the next turn's check phase, unless one is due already. */
  #schedule(): void {
    if (this.#scheduled === null) this.#scheduled = setImmediate(this.#round);
  }

  readonly #round = (): void => {
    this.#scheduled = null;
    // Connections queued during this round (the ones served, requeued) wait for the next.
    const end = this.#queue.length;
    const started = performance.now();
    while (this.#head < end) {
      const r = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Runnable;
      r.runSlice();
      if (this.#head < end && performance.now() - started >= this.#roundMs) break;
    }
    // Compact once the served prefix is the larger part: amortised O(1) per slice.
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    if (this.length > 0) this.#schedule();
  };
}
