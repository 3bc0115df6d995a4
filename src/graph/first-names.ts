/**
 * The first `limit` packages after a cursor, in bytewise order of name, out of an unsorted
 * collection: one pass with a bounded max-heap, O(n log limit), so a page of libc6's 50,000
 * dependents does not sort 50,000 names.
 */
import { finish, STEP_VISITS, type Steps } from './query-bounds.js';

interface Named {
  readonly name: string;
}

export interface FirstNames<T extends Named> {
  /** Sorted by name, at most `limit`, all after `after`. */
  readonly items: T[];
  /** True when more items after `after` were seen than returned. */
  readonly more: boolean;
}

export class FirstNamesCollector<T extends Named> {
  readonly #after: string | undefined;
  readonly #limit: number;
  /** Max-heap by name of the first items seen so far. */
  readonly #heap: T[] = [];
  #more = false;

  constructor(after: string | undefined, limit: number) {
    this.#after = after;
    this.#limit = limit;
  }

  add(item: T): void {
    if (this.#after !== undefined && item.name <= this.#after) return;
    const heap = this.#heap;
    if (heap.length < this.#limit) {
      heap.push(item);
      siftUp(heap, heap.length - 1);
    } else {
      this.#more = true;
      if (heap.length > 0 && item.name < heap[0]!.name) {
        heap[0] = item;
        siftDown(heap, 0);
      }
    }
  }

  result(): FirstNames<T> {
    return { items: this.#heap.slice().sort(byName), more: this.#more };
  }
}

/** The first `limit` of `items` by name after `after`, looking at no more than `maxScan` of them. */
export function firstNames<T extends Named>(
  items: Iterable<T>,
  after: string | undefined,
  limit: number,
  maxScan = Infinity,
): FirstNames<T> & { readonly scanned: number; readonly complete: boolean } {
  return finish(firstNamesSteps(items, after, limit, maxScan));
}

/** `firstNames`, pausing every STEP_VISITS items (see Steps). */
export function* firstNamesSteps<T extends Named>(
  items: Iterable<T>,
  after: string | undefined,
  limit: number,
  maxScan = Infinity,
): Steps<FirstNames<T> & { readonly scanned: number; readonly complete: boolean }> {
  const collector = new FirstNamesCollector<T>(after, limit);
  let scanned = 0;
  for (const item of items) {
    if (scanned === maxScan) {
      const { items: first } = collector.result();
      return { items: first, more: true, scanned, complete: false };
    }
    scanned++;
    collector.add(item);
    if (scanned % STEP_VISITS === 0) yield;
  }
  return { ...collector.result(), scanned, complete: true };
}

export function byName(a: Named, b: Named): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function siftUp(heap: Named[], i: number): void {
  const x = heap[i]!;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.name >= x.name) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = x;
}

function siftDown(heap: Named[], i: number): void {
  const n = heap.length;
  const x = heap[i]!;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]!.name > heap[child]!.name) child++;
    if (heap[child]!.name <= x.name) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = x;
}
