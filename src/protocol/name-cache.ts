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
 * Each slot keeps, in one table of integers, the name's 30-bit hash, its length and its first
 * 24 bytes, four to a word: a slot holding another name is almost always rejected by its
 * hash, and a name up to 24 bytes is compared with the bytes by words, without reading the
 * string. By charCodeAt a byte cost some 37 instructions (V8 checks the string's
 * representation on every character), by words about ten; and a hash, a length, words and a
 * string in four places cost up to four cache misses a name, where a set's records now
 * share one cache line. A longer name is compared by charCodeAt. It is transparent: the
 * string returned always equals `buf.toString('latin1', start, end)`.
 *
 * 16,384 slots: 32 bytes of record a slot, and a cache spread over every page is resident
 * whole (512 KiB). Twice the slots missed 0.4 % of the lookups instead of 1.3 %, a decode
 * each, for twice the memory.
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

/**
 * `nameHash` of a name already decoded: the same number as `nameHash` over its bytes, since a
 * name is decoded as latin1, one character a byte. What a command's `keys` hold, for one that
 * has none (the slow parser's, or a copy).
 */
export function nameHashOf(name: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), FNV_PRIME);
  return foldHash(h);
}

/**
 * A slot's record in the table: its name's hash, its length, then its first `WORD_BYTES`
 * bytes, little-endian, four to a word. Eight Int32s, 32 bytes: a set's two slots share one
 * 64-byte cache line, so a lookup that hits reads that line and the set's two strings.
 */
const HASH = 0;
const LENGTH = 1;
const WORDS = 2;
const SLOT_INTS = 8;
/** Names up to this long are compared by words; longer ones by characters. */
const WORD_BYTES = (SLOT_INTS - WORDS) * 4;

/**
 * The first bytes of the name being looked up, as the table keeps them (four to a word,
 * little-endian): filled by the parser as it hashes the name, so that `cached` compares
 * words without reading the name's bytes a second time. One per thread, as is the parser.
 */
export const NAME_WORDS = new Int32Array(WORD_BYTES / 4);

export class NameCache {
  /** Mask of a set's number; set `s` is slots `2s` (most recently used) and `2s + 1`. */
  readonly #setMask: number;
  /** '' in an empty slot: it only ever matches zero bytes, which it equals. */
  readonly #strings: string[];
  /** Slot `k`'s record (see SLOT_INTS) at `k * SLOT_INTS`. */
  readonly #table: Int32Array;

  /** `slots` is rounded up to a power of two (at least 2); a few times the number of distinct names keeps evictions rare. */
  constructor(slots = 16_384) {
    let size = 2;
    while (size < slots) size *= 2;
    this.#setMask = size / 2 - 1;
    this.#strings = new Array<string>(size).fill('');
    this.#table = new Int32Array(size * SLOT_INTS);
  }

  /** `buf[start, end)` as a latin1 string; names longer than MAX_NAME_BYTES are decoded, not cached. */
  decode(buf: Buffer, start: number, end: number): string {
    if (end - start > MAX_NAME_BYTES) return buf.toString('latin1', start, end);
    return this.lookup(buf, start, end, nameHash(buf, start, end));
  }

  /**
   * The cached string of the name whose bytes the caller packed, or null (not cached, or longer
   * than the table keeps: look it up with `lookup`). `NAME_WORDS[0, length >> 2)` hold its whole
   * words and `tail` its last `length & 3` bytes, packed as the table packs them; `hash` is its
   * `nameHash`. The words must be the name's bytes: unlike the hash, they decide a hit. Three
   * numbers and no buffer: at the parser's call, five arguments cost more than the comparison.
   */
  cached(hash: number, length: number, tail: number): string | null {
    if (length > WORD_BYTES) return null;
    const table = this.#table;
    const first = (hash & this.#setMask) << 1;
    const at = first * SLOT_INTS;
    if (table[at + HASH] === hash && table[at + LENGTH] === length && sameAs(table, at + WORDS, length, tail))
      return this.#strings[first]!;
    const bt = at + SLOT_INTS;
    if (table[bt + HASH] === hash && table[bt + LENGTH] === length && sameAs(table, bt + WORDS, length, tail))
      return this.#promote(first, at, bt);
    return null;
  }

  /**
   * As `decode`, for a caller that already computed `hash`, which must be `nameHash(buf, start, end)`
   * (a wrong hash only costs a miss, never a wrong string), and checked the length.
   */
  lookup(buf: Buffer, start: number, end: number, hash: number): string {
    const length = end - start;
    const strings = this.#strings;
    const table = this.#table;
    const first = (hash & this.#setMask) << 1;
    const at = first * SLOT_INTS;
    if (
      table[at + HASH] === hash &&
      table[at + LENGTH] === length &&
      same(strings, first, table, at, buf, start)
    )
      return strings[first]!;
    const bt = at + SLOT_INTS;
    if (
      table[bt + HASH] === hash &&
      table[bt + LENGTH] === length &&
      same(strings, first + 1, table, bt, buf, start)
    ) {
      return this.#promote(first, at, bt);
    }
    const name = buf.toString('latin1', start, end);
    strings[first + 1] = strings[first]!;
    strings[first] = name;
    table.copyWithin(bt, at, bt);
    table[at + HASH] = hash;
    table[at + LENGTH] = length;
    if (length <= WORD_BYTES) packWords(table, at + WORDS, buf, start, length);
    return name;
  }

  /**
   * Swaps the second slot of set `first` (records at `at` and `bt`) with the first and returns
   * its string: most recently used first, so that a name seen often stays when a third comes.
   */
  #promote(first: number, at: number, bt: number): string {
    const strings = this.#strings;
    const table = this.#table;
    const b = strings[first + 1]!;
    strings[first + 1] = strings[first]!;
    strings[first] = b;
    for (let k = at; k < bt; k++) {
      const w = table[k]!;
      table[k] = table[k + SLOT_INTS]!;
      table[k + SLOT_INTS] = w;
    }
    return b;
  }
}

/** Whether the record's words at `table[at]` are `NAME_WORDS` and `tail` for a name of `length` bytes. */
function sameAs(table: Int32Array, at: number, length: number, tail: number): boolean {
  const whole = length >> 2;
  const words = NAME_WORDS;
  for (let k = 0; k < whole; k++) if (table[at + k] !== words[k]) return false;
  return (length & 3) === 0 || table[at + whole] === tail;
}

/**
 * Whether slot `k`, whose record is at `table[at]` and whose length is that of the bytes
 * `buf[start, …)`, holds them.
 */
function same(
  strings: readonly string[],
  k: number,
  table: Int32Array,
  at: number,
  buf: Buffer,
  start: number,
): boolean {
  const length = table[at + LENGTH]!;
  return length > WORD_BYTES
    ? sameBytes(strings[k]!, buf, start, length)
    : sameWords(table, at + WORDS, buf, start, length);
}

/** The little-endian word of the `count` (1 to 3) bytes at `buf[at]`. */
function tailWord(buf: Buffer, at: number, count: number): number {
  let w = buf[at]!;
  if (count > 1) w |= buf[at + 1]! << 8;
  if (count > 2) w |= buf[at + 2]! << 16;
  return w;
}

function sameWords(words: Int32Array, at: number, buf: Buffer, start: number, length: number): boolean {
  let i = start;
  const whole = start + (length & ~3);
  for (; i < whole; i += 4, at++)
    if ((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) !== words[at])
      return false;
  return (length & 3) === 0 || tailWord(buf, i, length & 3) === words[at];
}

function packWords(words: Int32Array, at: number, buf: Buffer, start: number, length: number): void {
  let i = start;
  const whole = start + (length & ~3);
  for (; i < whole; i += 4, at++)
    words[at] = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
  if ((length & 3) !== 0) words[at] = tailWord(buf, i, length & 3);
}

function sameBytes(s: string, buf: Buffer, start: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}
