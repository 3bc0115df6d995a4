import { nameHash } from '../protocol/name-cache.js';

/**
 * Numbers the distinct names a scan meets, by their bytes, from 0 in the order first met: the
 * first pass of a compaction meets every record's name (millions of records, a few thousand
 * names) and only needs to know which name each is. A string per record, looked up in a Map,
 * was a third of that pass (docs/benchmarks.md, stop 43): here a name costs its hash and one
 * comparison of its bytes, and a string is made once per distinct name, at the end (`name`).
 *
 * Open addressing over a power-of-two table of slot numbers (+1; 0: empty), kept under half
 * full; each slot keeps its hash, and the place of its bytes in an arena that grows by doubling.
 */
export class NameSlots {
  /** Bucket → slot + 1 (0: empty). */
  #buckets = new Int32Array(1024);
  #hashes = new Int32Array(512);
  #starts = new Int32Array(512);
  #lengths = new Int32Array(512);
  #arena = Buffer.allocUnsafe(16 * 1024);
  #used = 0;
  #count = 0;

  /** Distinct names so far: slots are `0 … size - 1`. */
  get size(): number {
    return this.#count;
  }

  /** The slot of the name `buf[start, end)`, numbered next if it is new. */
  slotOf(buf: Uint8Array, start: number, end: number): number {
    const hash = nameHash(buf, start, end);
    const length = end - start;
    const buckets = this.#buckets;
    const mask = buckets.length - 1;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const found = buckets[b]! - 1;
      if (found < 0) return this.#add(b, hash, buf, start, length);
      if (
        this.#hashes[found] === hash &&
        this.#lengths[found] === length &&
        this.#same(found, buf, start, length)
      )
        return found;
    }
  }

  /** The name of `slot`, as latin1 (one character a byte, as the parser decodes names). */
  name(slot: number): string {
    const start = this.#starts[slot]!;
    return this.#arena.toString('latin1', start, start + this.#lengths[slot]!);
  }

  #same(slot: number, buf: Uint8Array, start: number, length: number): boolean {
    const arena = this.#arena;
    const at = this.#starts[slot]!;
    for (let i = 0; i < length; i++) if (arena[at + i] !== buf[start + i]) return false;
    return true;
  }

  #add(bucket: number, hash: number, buf: Uint8Array, start: number, length: number): number {
    const slot = this.#count++;
    if (slot === this.#hashes.length) {
      this.#hashes = grown(this.#hashes);
      this.#starts = grown(this.#starts);
      this.#lengths = grown(this.#lengths);
    }
    if (this.#used + length > this.#arena.length) {
      const arena = Buffer.allocUnsafe(Math.max(2 * this.#arena.length, this.#used + length));
      this.#arena.copy(arena, 0, 0, this.#used);
      this.#arena = arena;
    }
    this.#arena.set(buf.subarray(start, start + length), this.#used);
    this.#hashes[slot] = hash;
    this.#starts[slot] = this.#used;
    this.#lengths[slot] = length;
    this.#used += length;
    this.#buckets[bucket] = slot + 1;
    if (2 * this.#count > this.#buckets.length) this.#rehash();
    return slot;
  }

  /** Doubles the buckets and places every slot again by its hash. */
  #rehash(): void {
    const buckets = new Int32Array(2 * this.#buckets.length);
    const mask = buckets.length - 1;
    for (let slot = 0; slot < this.#count; slot++) {
      let b = this.#hashes[slot]! & mask;
      while (buckets[b] !== 0) b = (b + 1) & mask;
      buckets[b] = slot + 1;
    }
    this.#buckets = buckets;
  }
}

/** `a` in an array twice its length. */
export function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(2 * a.length);
  b.set(a);
  return b;
}
