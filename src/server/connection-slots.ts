/**
 * How many connections are open, against `--max-connections`. With several socket threads
 * the count is one Int32 in shared memory, so that the limit holds for the whole process
 * whichever thread accepted; alone, the same counter in an ordinary buffer.
 */
export class ConnectionSlots {
  readonly #count: Int32Array;
  readonly #max: number;

  /** `shared`: the process's counter (an Int32Array over a SharedArrayBuffer), or none. */
  constructor(max: number, shared?: Int32Array) {
    this.#max = max;
    this.#count = shared ?? new Int32Array(1);
  }

  /** Takes a slot; false (and nothing taken) when the process is at the limit. */
  tryAcquire(): boolean {
    if (Atomics.add(this.#count, 0, 1) < this.#max) return true;
    Atomics.sub(this.#count, 0, 1);
    return false;
  }

  release(): void {
    Atomics.sub(this.#count, 0, 1);
  }

  /** Open connections of the whole process. */
  get open(): number {
    return Atomics.load(this.#count, 0);
  }
}
