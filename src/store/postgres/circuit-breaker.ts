import { backoffDelayMs } from '../../client/backoff.js';

export interface CircuitBreakerOptions {
  /** Checks that the database answers again; resolves when it does. */
  readonly probe: () => Promise<void>;
  /**
   * Called when the circuit opens (writable false) and closes (writable true), and with
   * `changed` false when a failed probe gave a new reason for it to stay open (`attempt`: the
   * probes failed so far).
   */
  readonly onChange: (
    writable: boolean,
    detail: string | undefined,
    changed: boolean,
    attempt?: number,
  ) => void;
  /** Why a failed probe keeps the circuit open, for `detail`; unset: the reason it opened stays. */
  readonly describe?: (err: unknown) => string;
  readonly baseMs?: number;
  readonly capMs?: number;
  readonly random?: () => number;
}

/**
 * The circuit breaker around the database (Nygard, "Release It!"). Closed: batches go to the
 * database. A failure that says the database is down opens it: batches are refused at once
 * (their commands answered ERROR) instead of queueing behind connect timeouts, and a probe is
 * sent after a backoff that grows with each failed probe; the first probe that succeeds closes
 * it again. There is no half-open trickle of real batches: a probe costs a `SELECT 1`, and a
 * batch refused by a still-dead database would be answered ERROR anyway.
 */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #open = false;
  #detail: string | undefined;
  #failedProbes = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Times the circuit opened since start. */
  opened = 0;

  constructor(options: CircuitBreakerOptions) {
    this.#options = options;
    this.#baseMs = options.baseMs ?? 100;
    this.#capMs = options.capMs ?? 5_000;
    this.#random = options.random ?? Math.random;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  get detail(): string | undefined {
    return this.#detail;
  }

  /** The database looks down (`detail` says why, for logs and /readyz). */
  trip(detail: string): void {
    if (this.#open || this.#closed) return;
    this.#open = true;
    this.#detail = detail;
    this.#failedProbes = 0;
    this.opened++;
    this.#options.onChange(false, detail, true);
    this.#schedule();
  }

  /** Stops probing (the store is closing). */
  stop(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    // At least a few ms, so that a database refusing connections is not probed in a loop.
    const delay =
      5 + backoffDelayMs(this.#failedProbes, { baseMs: this.#baseMs, maxMs: this.#capMs }, this.#random);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#options.probe().then(
        () => {
          if (this.#closed) return;
          this.#open = false;
          this.#detail = undefined;
          this.#options.onChange(true, undefined, true);
        },
        (err: unknown) => {
          if (this.#closed) return;
          this.#failedProbes++;
          const detail = this.#options.describe?.(err);
          if (detail !== undefined && detail !== this.#detail) {
            this.#detail = detail;
            this.#options.onChange(false, detail, false, this.#failedProbes);
          }
          this.#schedule();
        },
      );
    }, delay);
    this.#timer.unref();
  }
}
