/**
 * Every connection's idle check on one timer of the server, instead of a timer per socket
 * that each read and write restarts (see `Connection.sweepIdle`).
 */

/** What the sweep asks of each connection. */
export interface IdleCandidate {
  sweepIdle(now: number): void;
}

/** Sweeps per idle timeout: a connection closes at most a quarter of a timeout late. */
const SWEEPS_PER_TIMEOUT = 4;

export class IdleSweep {
  readonly #timer: NodeJS.Timeout;
  #stopped = false;

  /** Sweeps `connections` (read at each sweep) every `timeoutMs / 4`; never keeps the process alive. */
  constructor(connections: Iterable<IdleCandidate>, timeoutMs: number) {
    const sweep = (): void => {
      if (this.#stopped) return;
      const now = performance.now();
      for (const connection of connections) connection.sweepIdle(now);
    };
    // The check runs after this turn's reads (setImmediate follows the poll phase): after a
    // stall of the process, the bytes that arrived during it count before anyone is judged.
    this.#timer = setInterval(
      () => {
        setImmediate(sweep);
      },
      Math.max(1, Math.floor(timeoutMs / SWEEPS_PER_TIMEOUT)),
    );
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
