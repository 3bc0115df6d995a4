/**
 * How many connections are open, against `--max-connections`. With several socket threads
 * the count is one Int32 in shared memory, so that the limit holds for the whole process
 * whichever thread accepted; alone, the same counter in an ordinary buffer.
 */
export class ConnectionSlots {
  readonly #count: Int32Array;
  readonly #max: number;
  /** This thread's own part of the count, in shared memory (see `giveBack`), or null. */
  readonly #held: Int32Array | null;

  /**
   * `shared`: the process's counter (an Int32Array over a SharedArrayBuffer), or none. `held`:
   * a socket thread's count of the slots it holds, where the owner can read it if the thread
   * dies (a thread stopped at its heap limit never releases its connections' slots itself).
   */
  constructor(max: number, shared?: Int32Array, held?: Int32Array) {
    this.#max = max;
    this.#count = shared ?? new Int32Array(1);
    this.#held = held ?? null;
  }

  /** Takes a slot; false (and nothing taken) when the process is at the limit. */
  tryAcquire(): boolean {
    if (Atomics.add(this.#count, 0, 1) < this.#max) {
      if (this.#held !== null) Atomics.add(this.#held, 0, 1);
      return true;
    }
    Atomics.sub(this.#count, 0, 1);
    return false;
  }

  release(): void {
    Atomics.sub(this.#count, 0, 1);
    if (this.#held !== null) Atomics.sub(this.#held, 0, 1);
  }

  /**
   * Releases every slot a thread that has died still held (its `held` counter, zeroed);
   * returns how many.
   */
  giveBack(held: Int32Array): number {
    const slots = Atomics.exchange(held, 0, 0);
    Atomics.sub(this.#count, 0, slots);
    return slots;
  }

  /** Open connections of the whole process. */
  get open(): number {
    return Atomics.load(this.#count, 0);
  }
}
