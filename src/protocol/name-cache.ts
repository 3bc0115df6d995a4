/**
 * Decodes package names from bytes, returning the same string object for the same bytes
 * while they stay cached. The server sees the same few thousand names over and over; a
 * fresh string per line costs a call into C++ to decode it, a hash computation when it is
 * looked up in the index, and garbage afterwards. A cached string carries its hash already.
 *
 * Direct-mapped: one slot per hash value, a colliding name replaces the previous one. Names
 * are latin1, so a cached string is compared with the bytes by charCodeAt, with no copy of
 * the bytes kept. It is transparent: the string returned always equals
 * `buf.toString('latin1', start, end)`.
 */
import { MAX_NAME_BYTES } from './command.js';

export class NameCache {
  readonly #mask: number;
  readonly #strings: (string | undefined)[];

  /** `slots` is rounded up to a power of two; a few times the number of distinct names keeps collisions rare. */
  constructor(slots = 16_384) {
    let size = 1;
    while (size < slots) size *= 2;
    this.#mask = size - 1;
    this.#strings = new Array<string | undefined>(size).fill(undefined);
  }

  /** `buf[start, end)` as a latin1 string; names longer than MAX_NAME_BYTES are decoded, not cached. */
  decode(buf: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_NAME_BYTES) return buf.toString('latin1', start, end);
    // FNV-1a over the bytes.
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const slot = (h ^ (h >>> 16)) & this.#mask;
    const cached = this.#strings[slot];
    if (cached?.length === length) {
      let i = 0;
      while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
      if (i === length) return cached;
    }
    const name = buf.toString('latin1', start, end);
    this.#strings[slot] = name;
    return name;
  }
}
