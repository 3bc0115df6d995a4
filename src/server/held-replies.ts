import { Reply } from '../protocol/reply.js';
import type { Barrier, Decided } from './barrier-waiters.js';

/**
 * A reply slot waiting for an asynchronous store: PENDING_SLOT + the verb's row in the command
 * counters, so that the reply is counted in the right row once the store has decided it, with
 * no array beside the replies.
 */
export const PENDING_SLOT = 4;

/** A held batch's state (see HeldReplies.state); SUSPENDS is a flag beside it. */
export const WAITING = 0;
export const DURABLE = 1;
export const FAILED = 2;
const STATE = 3;
const SUSPENDS = 4;

/** Bytes a connection's held replies start with: small enough to live in V8's young heap. */
const FIRST_BYTES = 64;

/**
 * One connection's replies held until the store says that what they observed is durable
 * (docs/adr/0002, "reply barrier"), oldest first. A held batch is the replies of one read
 * chunk (or one slice of it); they are released in order, never before the batches held
 * before them.
 *
 * Nothing is allocated per batch once the arrays have grown to the connection's usual depth:
 * the replies of every batch are copied into one buffer, one after the other, and each batch
 * is a row of parallel arrays (where its replies end, its barrier, when it arrived, its state),
 * where a read chunk used to cost a `slice` of the replies and an object.
 */
export class HeldReplies {
  /** Replies of the held batches, `#bytes[#from, #to)`. */
  #bytes = new Uint8Array(0);
  #from = 0;
  #to = 0;
  /**
   * Batches `[#head, #tail)`: the end of each in `#bytes`, and the rest, by row. The rows are
   * reused, never truncated: an array whose length is set to 0 loses its backing store, and
   * the next push would allocate one again, for every chunk of a client that waits for its
   * replies before sending more.
   */
  readonly #ends: number[] = [];
  readonly #barriers: (Barrier | null)[] = [];
  readonly #arrivedAt: number[] = [];
  readonly #states: number[] = [];
  /** Where each batch's decided replies start in what its barrier resolves with (IndexStore.barrierOffset). */
  readonly #offsets: number[] = [];
  #head = 0;
  #tail = 0;

  /** Batches held. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Replies held. */
  get replies(): number {
    return this.#to - this.#from;
  }

  /**
   * Holds `replies[0, count)` as the newest batch, waiting on `barrier` (null: it waits for
   * nothing but the batches before it). `suspends`: its last command was SUSPENDED. `offset`:
   * where its decided replies start in what `barrier` resolves with.
   */
  hold(
    replies: Uint8Array,
    count: number,
    barrier: Barrier | null,
    arrivedAt: number,
    suspends: boolean,
    offset = 0,
  ): void {
    this.#reserve(count);
    // Byte by byte: a chunk holds a few dozen replies, and subarray() would be an object.
    const bytes = this.#bytes;
    const to = this.#to;
    for (let i = 0; i < count; i++) bytes[to + i] = replies[i]!;
    this.#to = to + count;
    const row = this.#tail++;
    const state = (barrier === null ? DURABLE : WAITING) | (suspends ? SUSPENDS : 0);
    if (row === this.#ends.length) {
      this.#ends.push(this.#to);
      this.#barriers.push(barrier);
      this.#arrivedAt.push(arrivedAt);
      this.#states.push(state);
      this.#offsets.push(offset);
    } else {
      this.#ends[row] = this.#to;
      this.#barriers[row] = barrier;
      this.#arrivedAt[row] = arrivedAt;
      this.#states[row] = state;
      this.#offsets[row] = offset;
    }
  }

  /**
   * Settles every held batch that waited on `barrier`: DURABLE, with the replies `decided` put
   * into its pending slots (counted in `commands`), or FAILED. True when one of them suspends.
   */
  settle(barrier: Barrier, decided: Decided, failed: boolean, commands: Float64Array): boolean {
    let suspends = false;
    const barriers = this.#barriers;
    const states = this.#states;
    for (let i = this.#head; i < this.#tail; i++) {
      if (barriers[i] !== barrier || (states[i]! & STATE) !== WAITING) continue;
      barriers[i] = null;
      if (failed) states[i] = states[i]! | FAILED;
      else {
        if (decided !== undefined) this.#decide(i, decided, commands);
        states[i] = states[i]! | DURABLE;
      }
      if ((states[i]! & SUSPENDS) !== 0) suspends = true;
    }
    return suspends;
  }

  /** The oldest batch's state (WAITING, DURABLE or FAILED); WAITING when none is held. */
  get state(): number {
    return this.#head < this.#tail ? this.#states[this.#head]! & STATE : WAITING;
  }

  /** When the oldest batch arrived (0: not measured). */
  get arrivedAt(): number {
    return this.#arrivedAt[this.#head]!;
  }

  /**
   * Answers every pending slot of the oldest batch ERROR (counted in its row of `commands`),
   * and every reply of it too; returns how many replies it has.
   */
  fail(commands: Float64Array): number {
    const from = this.#from;
    const to = this.#ends[this.#head]!;
    const bytes = this.#bytes;
    for (let i = from; i < to; i++) {
      const slot = bytes[i]!;
      if (slot >= PENDING_SLOT) commands[(slot - PENDING_SLOT) * 3 + Reply.ERROR]!++;
      bytes[i] = Reply.ERROR;
    }
    return to - from;
  }

  /**
   * Drops the oldest batch; returns where its replies end in `bytes` (they start at `from`),
   * valid until the next `hold`.
   */
  shift(): number {
    const end = this.#ends[this.#head]!;
    this.#barriers[this.#head] = null;
    this.#head++;
    this.#from = end;
    if (this.#head === this.#tail) this.clear();
    else if (this.#head >= 64 && this.#head * 2 >= this.#tail) {
      // Never empty while a client pipelines without pause: move the rows to the front,
      // amortised O(1) a batch.
      const head = this.#head;
      const held = this.#tail - head;
      for (let i = 0; i < held; i++) {
        this.#ends[i] = this.#ends[head + i]!;
        this.#barriers[i] = this.#barriers[head + i]!;
        this.#arrivedAt[i] = this.#arrivedAt[head + i]!;
        this.#states[i] = this.#states[head + i]!;
        this.#offsets[i] = this.#offsets[head + i]!;
        this.#barriers[head + i] = null;
      }
      this.#head = 0;
      this.#tail = held;
    }
    return end;
  }

  /** The buffer the held replies are in; the oldest batch's start at `from`. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  get from(): number {
    return this.#from;
  }

  /** Forgets every batch (the connection closed); keeps the buffer for reuse. */
  clear(): void {
    // The rows stay for reuse; no barrier is kept alive by them.
    for (let i = this.#head; i < this.#tail; i++) this.#barriers[i] = null;
    this.#head = 0;
    this.#tail = 0;
    this.#from = 0;
    this.#to = 0;
  }

  /** Room for `count` more replies after `#to`: moves the held ones to the front, or grows. */
  #reserve(count: number): void {
    const bytes = this.#bytes;
    if (this.#to + count <= bytes.length) return;
    const held = this.#to - this.#from;
    const from = this.#from;
    if (held + count <= bytes.length && from > 0) {
      bytes.copyWithin(0, from, this.#to);
    } else {
      const grown = new Uint8Array(Math.max(FIRST_BYTES, 2 * bytes.length, held + count));
      grown.set(bytes.subarray(from, this.#to));
      this.#bytes = grown;
    }
    // Every batch's end moves with its replies.
    const ends = this.#ends;
    for (let i = this.#head; i < this.#tail; i++) ends[i] = ends[i]! - from;
    this.#from = 0;
    this.#to = held;
  }

  /**
   * Puts the replies an asynchronous store decided into batch `i`'s pending slots, in order
   * from the batch's offset, and counts them. A slot the store left undecided (a store bug) is
   * ERROR.
   */
  #decide(i: number, decided: ArrayLike<Reply>, commands: Float64Array): void {
    const bytes = this.#bytes;
    const to = this.#ends[i]!;
    let next = this.#offsets[i]!;
    for (let k = i === this.#head ? this.#from : this.#ends[i - 1]!; k < to; k++) {
      const slot = bytes[k]!;
      if (slot < PENDING_SLOT) continue;
      const reply = next < decided.length ? decided[next++]! : Reply.ERROR;
      commands[(slot - PENDING_SLOT) * 3 + reply]!++;
      bytes[k] = reply;
    }
  }
}
