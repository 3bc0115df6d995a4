/**
 * A single-producer, single-consumer ring of length-prefixed records in shared memory (ADR
 * 0010): how a socket thread's batches reach the index owner and its replies come back,
 * without a structured clone or a MessageEvent per batch. One ring per direction per thread.
 *
 * Layout: a header of Int32 words, then `capacity` bytes of data (a power of two). `head` and
 * `tail` count bytes written and read since the start, modulo 2^32; a record is an Int32
 * payload length, an Int32 tag, then the payload padded to 4 bytes, wrapping around the end of
 * the data bytes where it must. The producer publishes a record by storing `head`; the
 * consumer frees it by storing `tail` (both sequentially consistent Atomics, which order the
 * plain reads and writes of the record around them).
 *
 * Waking: a consumer that found the ring empty sets `idle` and re-checks `head`; a producer
 * that published a record swaps `idle` back to 0 and, if it was 1, wakes the consumer (a
 * `postMessage` doorbell, or `Atomics.notify` for a consumer in `Atomics.waitAsync`). With
 * sequentially consistent stores and loads on both sides, either the producer sees `idle` or
 * the consumer sees the new `head`: no record is left unnoticed, and a busy consumer costs its
 * producer no wake-up at all.
 */

import { createError } from '../errors.js';

/** Atomics.waitAsync (Node 16+), not yet in this TypeScript's lib. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: unknown };
}

const HEAD = 0;
const TAIL = 1;
const IDLE = 2;
/** Bumped on every wake-up, for a consumer waiting in Atomics.waitAsync. */
const SEQ = 3;
const HEADER_WORDS = 16; // 64 bytes: the header owns its cache line.
const HEADER_BYTES = HEADER_WORDS * 4;
const RECORD_HEADER = 8;

export function ringBytes(capacity: number): number {
  return HEADER_BYTES + capacity;
}

/** The smallest power of two at least `bytes` (and at least 4 KiB). */
export function ringCapacity(bytes: number): number {
  let capacity = 4096;
  while (capacity < bytes) capacity *= 2;
  return capacity;
}

/** Allocates the shared memory of a ring of `capacity` data bytes (a power of two). */
export function createRing(capacity: number): SharedArrayBuffer {
  if (capacity < 16 || (capacity & (capacity - 1)) !== 0)
    throw createError('E_INTERNAL', `ring capacity ${capacity} is not a power of two`);
  return new SharedArrayBuffer(ringBytes(capacity));
}

/** One end of a ring: the producer's or the consumer's (each thread builds its own view). */
export class Ring {
  readonly capacity: number;
  readonly #header: Int32Array;
  readonly #bytes: Buffer;
  readonly #words: Int32Array;
  readonly #mask: number;
  /** Where this end stands: `head` for the producer, `tail` for the consumer (its own copy). */
  #at: number;
  /** Payload of a record that wraps around the end, copied out contiguous (consumer only). */
  #scratch = Buffer.alloc(0);

  constructor(memory: SharedArrayBuffer, end: 'producer' | 'consumer') {
    this.capacity = memory.byteLength - HEADER_BYTES;
    this.#header = new Int32Array(memory, 0, HEADER_WORDS);
    this.#bytes = Buffer.from(memory, HEADER_BYTES, this.capacity);
    this.#words = new Int32Array(memory, HEADER_BYTES, this.capacity / 4);
    this.#mask = this.capacity - 1;
    this.#at = Atomics.load(this.#header, end === 'producer' ? HEAD : TAIL);
  }

  /** The largest payload a record may carry (a record holds at most half the ring). */
  get maxPayload(): number {
    return this.capacity / 2 - RECORD_HEADER;
  }

  /**
   * Producer: appends one record. False (nothing written) when the ring has no room for it now;
   * throws when it never will (larger than `maxPayload`).
   */
  tryWrite(payload: Uint8Array, tag: number): boolean {
    const length = payload.length;
    if (length > this.maxPayload)
      throw createError('E_INTERNAL', `a ring record of ${length} bytes is larger than half the ring`);
    const need = RECORD_HEADER + ((length + 3) & ~3);
    const head = this.#at;
    const used = (head - Atomics.load(this.#header, TAIL)) >>> 0;
    if (this.capacity - used < need) return false;
    const mask = this.#mask;
    this.#words[(head & mask) >>> 2] = length;
    this.#words[((head + 4) & mask) >>> 2] = tag;
    const from = (head + RECORD_HEADER) & mask;
    const first = Math.min(length, this.capacity - from);
    this.#bytes.set(first === length ? payload : payload.subarray(0, first), from);
    if (first < length) this.#bytes.set(payload.subarray(first), 0);
    this.#at = (head + need) | 0;
    Atomics.store(this.#header, HEAD, this.#at);
    return true;
  }

  /**
   * Producer, after publishing: true when the consumer had gone idle and must be woken (the
   * caller rings its doorbell, or calls `notify`). At most one caller sees true per idle spell.
   */
  claimWake(): boolean {
    return Atomics.load(this.#header, IDLE) === 1 && Atomics.compareExchange(this.#header, IDLE, 1, 0) === 1;
  }

  /** Producer: wakes a consumer waiting in `waitAsync`. */
  notify(): void {
    Atomics.add(this.#header, SEQ, 1);
    Atomics.notify(this.#header, SEQ);
  }

  /**
   * Consumer: hands every record published so far to `onRecord`, oldest first, then frees
   * them (one pass: records published meanwhile wait for the next call). The payload is a view
   * into the ring (or a scratch copy), valid only during the call.
   */
  drain(onRecord: (payload: Buffer, tag: number) => void): number {
    let records = 0;
    let tail = this.#at;
    const mask = this.#mask;
    const head = Atomics.load(this.#header, HEAD);
    while (tail !== head) {
      const length = this.#words[(tail & mask) >>> 2]!;
      const tag = this.#words[((tail + 4) & mask) >>> 2]!;
      const from = (tail + RECORD_HEADER) & mask;
      let payload: Buffer;
      if (from + length <= this.capacity) payload = this.#bytes.subarray(from, from + length);
      else {
        if (this.#scratch.length < length)
          this.#scratch = Buffer.allocUnsafe(Math.max(length, 2 * this.#scratch.length));
        const first = this.capacity - from;
        this.#bytes.copy(this.#scratch, 0, from, this.capacity);
        this.#bytes.copy(this.#scratch, first, 0, length - first);
        payload = this.#scratch.subarray(0, length);
      }
      tail = (tail + RECORD_HEADER + ((length + 3) & ~3)) | 0;
      records++;
      onRecord(payload, tag);
    }
    this.#at = tail;
    Atomics.store(this.#header, TAIL, tail);
    return records;
  }

  /**
   * Consumer, after draining: declares itself idle, so that the next record wakes it. False
   * when a record arrived meanwhile (drain again, still awake) — unless the producer already
   * claimed the wake-up, in which case the wake-up comes and this returns true.
   */
  sleep(): boolean {
    Atomics.store(this.#header, IDLE, 1);
    if (Atomics.load(this.#header, HEAD) === this.#at) return true;
    // A record came in between: stay awake, unless its producer already took the wake-up.
    return Atomics.compareExchange(this.#header, IDLE, 1, 0) === 0;
  }

  /** Consumer: the value to pass `waitAsync` (read before `sleep`). */
  get wakeSeq(): number {
    return Atomics.load(this.#header, SEQ);
  }

  /** Consumer: waits until a producer's `notify` after `seq` (does not keep the event loop alive). */
  waitAsync(seq: number): Promise<unknown> | null {
    const waited = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.#header, SEQ, seq);
    return waited.async ? (waited.value as Promise<unknown>) : null;
  }
}
