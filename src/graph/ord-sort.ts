/**
 * Sorting packages by their place in the topological order, in steps of bounded work: the
 * reordering after a cycle check may have to sort hundreds of thousands of packages, and no
 * single call may hold the event loop for that long. A bottom-up merge sort whose state (run
 * width and merge positions) survives between calls, in two arrays of its own that it keeps
 * for the next sort (so a small check allocates nothing) unless they grew large.
 */
import type { Entry } from './package-node.js';

/** Runs of this many are sorted by insertion before merging. */
const RUN = 16;
/** Scratch arrays longer than this are not kept once a sort is done. */
const KEEP = 1 << 16;

export class OrdSort {
  #src: Entry[] = [];
  #dst: Entry[] = [];
  #n = 0;
  #width = RUN;
  /** Next position to sort by insertion (first phase), then start of the pair being merged. */
  #lo = 0;
  #i = 0;
  #j = 0;
  #k = 0;
  #merging = false;
  #done = true;

  constructor(items?: readonly Entry[]) {
    if (items !== undefined) this.reset(items);
  }

  /** Starts sorting `items` itself, which the sorter then owns (no copy: for large arrays). */
  adopt(items: Entry[]): void {
    this.#src = items;
    this.#dst = [];
    this.#n = items.length;
    this.#width = RUN;
    this.#lo = 0;
    this.#merging = false;
    this.#done = items.length <= 1;
  }

  /** Starts sorting a copy of `items`. */
  reset(items: readonly Entry[]): void {
    const n = items.length;
    if (this.#src.length > KEEP) this.#src = [];
    if (this.#dst.length > KEEP) this.#dst = [];
    const src = this.#src;
    for (let i = 0; i < n; i++) src[i] = items[i]!;
    this.#n = n;
    this.#width = RUN;
    this.#lo = 0;
    this.#merging = false;
    this.#done = n <= 1;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The sorted packages (ascending `ord`) are `result[0, length)`; valid once `done`. */
  get result(): readonly Entry[] {
    return this.#src;
  }

  get length(): number {
    return this.#n;
  }

  /** Sorts for at most about `budget` element moves; returns the work done. */
  step(budget: number): number {
    let work = 0;
    const n = this.#n;
    const src = this.#src;
    // Phase 1: insertion sort of runs of RUN.
    while (this.#width === RUN && this.#lo < n && !this.#merging) {
      if (work >= budget) return work;
      const lo = this.#lo;
      const hi = Math.min(lo + RUN, n);
      for (let i = lo + 1; i < hi; i++) {
        const x = src[i]!;
        let j = i - 1;
        while (j >= lo && src[j]!.ord > x.ord) {
          src[j + 1] = src[j]!;
          j--;
        }
        src[j + 1] = x;
      }
      work += (hi - lo) * 4;
      this.#lo = hi;
    }
    if (n <= RUN) {
      this.#done = true;
      return work;
    }
    // Phase 2: merge passes of doubling width, src → dst, then swap.
    while (!this.#done) {
      const width = this.#width;
      if (!this.#merging) {
        this.#lo = 0;
        this.#merging = true;
        this.#startPair();
      }
      const s = this.#src;
      const d = this.#dst;
      while (this.#lo < n) {
        const mid = Math.min(this.#lo + width, n);
        const hi = Math.min(this.#lo + 2 * width, n);
        let i = this.#i;
        let j = this.#j;
        let k = this.#k;
        const stop = Math.min(hi, k + (budget - work));
        while (k < stop) {
          if (i < mid && (j >= hi || s[i]!.ord <= s[j]!.ord)) d[k++] = s[i++]!;
          else d[k++] = s[j++]!;
        }
        work += k - this.#k;
        this.#i = i;
        this.#j = j;
        this.#k = k;
        if (k < hi) return work;
        this.#lo = hi;
        this.#startPair();
      }
      // Pass finished.
      this.#src = d;
      this.#dst = s;
      this.#width = width * 2;
      this.#merging = false;
      this.#lo = 0;
      if (this.#width >= n) this.#done = true;
      if (work >= budget) return work;
    }
    return work;
  }

  #startPair(): void {
    this.#i = this.#lo;
    this.#j = Math.min(this.#lo + this.#width, this.#n);
    this.#k = this.#lo;
  }
}
