/**
 * The per-peer state of PeerLimits in shared memory, so that `--max-connections-per-peer` and
 * `--mutation-rate-per-peer` hold for the whole process whichever thread accepted a
 * connection (ADR 0010, issue 12). An open-addressing table (linear probing) of peers keyed
 * by their address, guarded by one spin lock: every operation is a few dozen instructions
 * (an accept, a close, a mutation when rates are limited), so threads wait on each other for
 * less than a system call would cost. A removed peer leaves a tombstone, so that an entry
 * never moves while a connection holds its slot number.
 */

const LOCK = 0;
/** Entries live (not empty, not tombstones). */
const LIVE = 1;
const HEADER_WORDS = 4;

const EMPTY = 0;
const USED = 1;
const TOMBSTONE = 2;

/** Words of an entry: state, hash, address length, connections, then the address bytes. */
const STATE = 0;
const HASH = 1;
const LENGTH = 2;
const CONNECTIONS = 3;
const KEY = 4;
/** Longest address kept whole (IPv6 with a zone is at most ~50 characters). */
const KEY_BYTES = 64;
const ENTRY_WORDS = KEY + KEY_BYTES / 4;

/** Bytes of shared memory for a table of `slots` entries (a power of two). */
export function peerTableBytes(slots: number): number {
  return (HEADER_WORDS + slots * ENTRY_WORDS) * 4 + slots * 16;
}

/** A table able to hold `peers` at once, at most half full. */
export function peerTableSlots(peers: number): number {
  let slots = 1024;
  while (slots < 2 * peers && slots < 1 << 20) slots *= 2;
  return slots;
}

function fnv1a(bytes: Uint8Array, length: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash | 0;
}

/** One thread's view of the process's table of peers. */
export class SharedPeerTable {
  readonly slots: number;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  /** tokens[slot * 2], refilledAt[slot * 2 + 1] (epoch milliseconds, the same in every thread). */
  readonly #buckets: Float64Array;
  readonly #key = new Uint8Array(KEY_BYTES);
  /** This thread's connections per slot, in shared memory (see `releaseHeld`), or null. */
  readonly #held: Int32Array | null;

  /**
   * `held`: `slots` counters of the connections this thread holds per peer, where the owner
   * can read them if the thread dies (see `releaseHeld`).
   */
  constructor(memory: SharedArrayBuffer, slots: number, held?: Int32Array) {
    this.slots = slots;
    this.#held = held ?? null;
    const wordBytes = (HEADER_WORDS + slots * ENTRY_WORDS) * 4;
    this.#words = new Int32Array(memory, 0, wordBytes / 4);
    this.#bytes = new Uint8Array(memory, 0, wordBytes);
    this.#buckets = new Float64Array(memory, wordBytes, slots * 2);
  }

  /** Peers remembered (with connections, or with a bucket still refilling). */
  get live(): number {
    return Atomics.load(this.#words, LIVE);
  }

  /**
   * Counts a connection from `address` unless it already has `max` (0: no limit). Returns its
   * slot, -1 when at the limit, or -2 when the table is full (the caller admits untracked).
   * A new peer starts with `burst` tokens.
   */
  admit(address: string, max: number, burst: number, rate: number): number {
    this.#lock();
    try {
      let slot = this.#find(address);
      if (slot < 0) {
        if (this.live >= (this.slots * 3) / 4) this.#sweep(burst, rate);
        slot = this.#insert(address);
        if (slot < 0) return -2;
        this.#buckets[slot * 2] = burst;
        this.#buckets[slot * 2 + 1] = now();
      }
      const at = HEADER_WORDS + slot * ENTRY_WORDS;
      const open = this.#words[at + CONNECTIONS]!;
      if (max > 0 && open >= max) return -1;
      this.#words[at + CONNECTIONS] = open + 1;
      if (this.#held !== null) Atomics.add(this.#held, slot, 1);
      return slot;
    } finally {
      this.#unlock();
    }
  }

  /** A connection of the peer in `slot` closed; forgets the peer when nothing needs it. */
  release(slot: number, keepBucket: boolean): void {
    this.#lock();
    try {
      const at = HEADER_WORDS + slot * ENTRY_WORDS;
      const open = this.#words[at + CONNECTIONS]! - 1;
      this.#words[at + CONNECTIONS] = open;
      if (open === 0 && !keepBucket) this.#remove(at);
      if (this.#held !== null) Atomics.sub(this.#held, slot, 1);
    } finally {
      this.#unlock();
    }
  }

  /**
   * Releases every connection a thread that has died still held (its `held` counters, zeroed
   * as they are read), as if each had closed; returns how many.
   */
  releaseHeld(held: Int32Array, keepBucket: boolean): number {
    let released = 0;
    for (let slot = 0; slot < held.length; slot++) {
      const count = Atomics.exchange(held, slot, 0);
      if (count === 0) continue;
      released += count;
      this.#lock();
      try {
        const at = HEADER_WORDS + slot * ENTRY_WORDS;
        const open = this.#words[at + CONNECTIONS]! - count;
        this.#words[at + CONNECTIONS] = open;
        if (open === 0 && !keepBucket) this.#remove(at);
      } finally {
        this.#unlock();
      }
    }
    return released;
  }

  /** Takes one token of the peer in `slot`, its bucket refilled at `rate` per second up to `burst`. */
  take(slot: number, burst: number, rate: number): boolean {
    this.#lock();
    try {
      const b = this.#buckets;
      const t = now();
      const tokens = Math.min(burst, b[slot * 2]! + ((t - b[slot * 2 + 1]!) * rate) / 1000);
      b[slot * 2 + 1] = t;
      if (tokens < 1) {
        b[slot * 2] = tokens;
        return false;
      }
      b[slot * 2] = tokens - 1;
      return true;
    } finally {
      this.#unlock();
    }
  }

  #lock(): void {
    while (Atomics.compareExchange(this.#words, LOCK, 0, 1) !== 0);
  }

  #unlock(): void {
    Atomics.store(this.#words, LOCK, 0);
  }

  /** Encodes `address` into #key; returns its length (truncated to KEY_BYTES). */
  #encode(address: string): number {
    const length = Math.min(address.length, KEY_BYTES);
    for (let i = 0; i < length; i++) this.#key[i] = address.charCodeAt(i) & 0xff;
    return length;
  }

  #matches(at: number, hash: number, length: number): boolean {
    const words = this.#words;
    if (words[at + HASH] !== hash || words[at + LENGTH] !== length) return false;
    const from = (at + KEY) * 4;
    for (let i = 0; i < length; i++) if (this.#bytes[from + i] !== this.#key[i]) return false;
    return true;
  }

  #find(address: string): number {
    const length = this.#encode(address);
    const hash = fnv1a(this.#key, length);
    const mask = this.slots - 1;
    for (let probe = 0, slot = hash & mask; probe < this.slots; probe++, slot = (slot + 1) & mask) {
      const at = HEADER_WORDS + slot * ENTRY_WORDS;
      const state = this.#words[at + STATE]!;
      if (state === EMPTY) return -1;
      if (state === USED && this.#matches(at, hash, length)) return slot;
    }
    return -1;
  }

  /** Inserts `address` (known absent, #key holding it) at its first free slot; -1 when full. */
  #insert(address: string): number {
    const length = this.#encode(address);
    const hash = fnv1a(this.#key, length);
    const mask = this.slots - 1;
    for (let probe = 0, slot = hash & mask; probe < this.slots; probe++, slot = (slot + 1) & mask) {
      const at = HEADER_WORDS + slot * ENTRY_WORDS;
      if (this.#words[at + STATE] === USED) continue;
      this.#words[at + STATE] = USED;
      this.#words[at + HASH] = hash;
      this.#words[at + LENGTH] = length;
      this.#words[at + CONNECTIONS] = 0;
      this.#bytes.set(this.#key.subarray(0, length), (at + KEY) * 4);
      this.#words[LIVE]!++;
      return slot;
    }
    return -1;
  }

  #remove(at: number): void {
    this.#words[at + STATE] = TOMBSTONE;
    this.#words[LIVE]!--;
  }

  /** Forgets peers without connections whose bucket is full again (they would start full). */
  #sweep(burst: number, rate: number): void {
    const t = now();
    const b = this.#buckets;
    for (let slot = 0; slot < this.slots; slot++) {
      const at = HEADER_WORDS + slot * ENTRY_WORDS;
      if (this.#words[at + STATE] !== USED || this.#words[at + CONNECTIONS] !== 0) continue;
      if (rate === 0 || b[slot * 2]! + ((t - b[slot * 2 + 1]!) * rate) / 1000 >= burst) this.#remove(at);
    }
  }
}

/** Milliseconds since the epoch, fractional: comparable between threads (performance.now is not). */
function now(): number {
  return performance.timeOrigin + performance.now();
}
