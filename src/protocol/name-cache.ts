/**
 * Decodes package names from bytes, returning the same string object for the same bytes
 * while they stay cached. The server sees the same few thousand names over and over; a
 * fresh string per line costs a call into C++ to decode it, a hash computation when it is
 * looked up in the index, and garbage afterwards. A cached string carries its hash already.
 *
 * Two-way set associative: a name hashes to a set of two slots, the most recently used first;
 * a new name evicts the least recently used of the two. Replaying the benchmark's mixed script
 * (3,359 names, 1.65 names per line) through a simulation of the cache: direct-mapped with
 * 16,384 slots, 6.1 % of the lookups missed (a fifth of the names share their slot with
 * another and evict it in turn); two-way, 1.3 % with 16,384 slots, 0.4 % with 32,768.
 * Each slot keeps the name's 30-bit hash next to the string, so a slot holding another
 * name is almost always rejected without reading the string. Names are latin1, so a cached
 * string is compared with the bytes by charCodeAt, with no copy of the bytes kept. It is
 * transparent: the string returned always equals `buf.toString('latin1', start, end)`.
 */
import { MAX_NAME_BYTES } from './command.js';

/** FNV-1a over bytes: `h = FNV_OFFSET`, then `h = Math.imul(h ^ byte, FNV_PRIME)` per byte. */
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/**
 * The key `lookup` takes: the FNV-1a state folded to 30 bits. A small integer (Smi) is passed
 * to a function that is not inlined as is; a full 32-bit one becomes a heap number, garbage
 * on every second name (the garbage collector's share of the hot path tripled when tried).
 */
export function foldHash(h: number): number {
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

/** `foldHash` of FNV-1a over `buf[start, end)`. */
export function nameHash(buf: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return foldHash(h);
}

export class NameCache {
  /** Mask of a set's number; set `s` is slots `2s` (most recently used) and `2s + 1`. */
  readonly #setMask: number;
  /** '' in an empty slot: it only ever matches zero bytes, which it equals. */
  readonly #strings: string[];
  readonly #hashes: Int32Array;

  /** `slots` is rounded up to a power of two (at least 2); a few times the number of distinct names keeps evictions rare. */
  constructor(slots = 32_768) {
    let size = 2;
    while (size < slots) size *= 2;
    this.#setMask = size / 2 - 1;
    this.#strings = new Array<string>(size).fill('');
    this.#hashes = new Int32Array(size);
  }

  /** `buf[start, end)` as a latin1 string; names longer than MAX_NAME_BYTES are decoded, not cached. */
  decode(buf: Buffer, start: number, end: number): string {
    if (end - start > MAX_NAME_BYTES) return buf.toString('latin1', start, end);
    return this.lookup(buf, start, end, nameHash(buf, start, end));
  }

  /**
   * As `decode`, for a caller that already computed `hash`, which must be `nameHash(buf, start, end)`
   * (a wrong hash only costs a miss, never a wrong string), and checked the length.
   */
  lookup(buf: Buffer, start: number, end: number, hash: number): string {
    const length = end - start;
    const strings = this.#strings;
    const hashes = this.#hashes;
    const first = (hash & this.#setMask) << 1;
    const a = strings[first]!;
    if (hashes[first] === hash && a.length === length && sameBytes(a, buf, start, length)) return a;
    const second = first + 1;
    const b = strings[second]!;
    if (hashes[second] === hash && b.length === length && sameBytes(b, buf, start, length)) {
      // Most recently used first: a name seen often stays when a third one comes.
      strings[second] = a;
      hashes[second] = hashes[first]!;
      strings[first] = b;
      hashes[first] = hash;
      return b;
    }
    const name = buf.toString('latin1', start, end);
    strings[second] = a;
    hashes[second] = hashes[first]!;
    strings[first] = name;
    hashes[first] = hash;
    return name;
  }
}

function sameBytes(s: string, buf: Buffer, start: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}
