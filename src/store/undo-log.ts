import { createError } from '../errors.js';
import {
  IndexOutcome,
  RemoveOutcome,
  droppedNames,
  type DependencyGraph,
  type DroppedList,
} from '../graph/dependency-graph.js';

/**
 * How to take back the mutations applied to the serving graph that are not yet durable, so
 * that after a failed sync the graph returns to exactly what a restart would recover before
 * anything else is answered (docs/adr/0015-rollback-and-io-deadline.md).
 *
 * One entry per logged record, numbered like the log writer numbers its records (0 for the
 * writer's first): the name and the dependency list the change took from it, as the graph
 * handed it back (`DependencyGraph.dropped`; null: it was not indexed). Nothing is copied
 * per record: the names are read from that list only when a rollback needs them.
 * Undoing in reverse order always applies, because each step returns the graph to a state it
 * was in: a package added has no dependents yet, a package removed had none, and a list
 * replaced refers to packages the mutation did not touch.
 */
export class UndoLog {
  /**
   * A ring: the live records are the `#count` slots from `#head` on, modulo the capacity (a
   * power of two). The arrays are kept across group commits rather than emptied: an array
   * whose length is set to 0 loses its backing store, and one sliced to drop its head is a
   * copy, so both grew again on every group commit (V8's GrowFastSmiOrObjectElements and
   * memmove: 46 instructions and 1.7 L1 misses per line on the durable mutation load).
   * Forgotten slots are cleared, so that what they held can be collected young.
   */
  #names: string[];
  #before: (DroppedList | null)[];
  #mask: number;
  readonly #initial: number;
  #head = 0;
  #count = 0;
  /** Record number of the slot at `#head`. */
  #base = 0;
  /** Pushes since the capacity was last checked, and the most records held meanwhile. */
  #pushes = 0;
  #peak = 0;

  /** `initialCapacity`: slots to start with, rounded up to a power of two (tests use a few). */
  constructor(initialCapacity = 1024) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.#initial = capacity;
    this.#names = filled<string>(capacity, '');
    this.#before = filled<DroppedList | null>(capacity, null);
    this.#mask = capacity - 1;
  }

  /** Records numbered below this are no longer undoable. */
  get start(): number {
    return this.#base;
  }

  /** The record number the next `push` gets. */
  get end(): number {
    return this.#base + this.#count;
  }

  /** Slots now allocated (for tests: it grows with the records kept, and shrinks back). */
  get capacity(): number {
    return this.#mask + 1;
  }

  /** Remembers how to undo the next record: `name` had `before` (null: not indexed). */
  push(name: string, before: DroppedList | null): void {
    if (this.#count > this.#mask) this.#resize((this.#mask + 1) * 2);
    else if (++this.#pushes > 4 * this.#mask) this.#maybeShrink();
    const i = (this.#head + this.#count) & this.#mask;
    this.#names[i] = name;
    this.#before[i] = before;
    if (++this.#count > this.#peak) this.#peak = this.#count;
  }

  /** Forgets the records below `durable`: they can no longer be taken back. */
  trim(durable: number): void {
    const drop = Math.min(durable, this.end) - this.#base;
    if (drop <= 0) return;
    this.#clear(this.#head, drop);
    this.#head = (this.#head + drop) & this.#mask;
    this.#count -= drop;
    this.#base += drop;
  }

  /** Undoes every record from `kept` on, newest first; returns how many. */
  rollback(graph: DependencyGraph, kept: number): number {
    const from = Math.max(kept, this.#base);
    let undone = 0;
    for (let n = this.end - 1; n >= from; n--) {
      const i = (this.#head + n - this.#base) & this.#mask;
      const name = this.#names[i]!;
      const before = this.#before[i] ?? null;
      if (before === null) {
        if (graph.remove(name) !== RemoveOutcome.REMOVED) throw cannotUndo(name, 'remove');
      } else {
        const outcome = graph.index(name, droppedNames(before));
        if (outcome !== IndexOutcome.ADDED && outcome !== IndexOutcome.REPLACED)
          throw cannotUndo(name, 'index');
      }
      undone++;
    }
    const left = Math.max(0, from - this.#base);
    this.#clear((this.#head + left) & this.#mask, this.#count - left);
    this.#count = left;
    return undone;
  }

  /** Forgets everything, for a new log whose records are numbered from `base`. */
  reset(base = 0): void {
    this.#clear(this.#head, this.#count);
    this.#head = 0;
    this.#count = 0;
    this.#base = base;
    if (this.#mask + 1 > this.#initial) this.#resize(this.#initial);
  }

  /**
   * After a burst (a sync that took long while mutations went on), gives the memory back:
   * checked every four turns of the ring, it shrinks to between two and four times the most
   * records it held over them, so that the usual group commit's records never make it grow
   * again.
   */
  #maybeShrink(): void {
    let capacity = this.#mask + 1;
    const peak = this.#peak;
    this.#pushes = 0;
    this.#peak = this.#count;
    if (capacity <= this.#initial || peak * 4 > capacity) return;
    while (capacity > this.#initial && peak * 4 <= capacity) capacity /= 2;
    this.#resize(capacity);
  }

  /** Clears `n` slots from slot `from` on, around the end of the ring. */
  #clear(from: number, n: number): void {
    const names = this.#names;
    const before = this.#before;
    const mask = this.#mask;
    for (let k = 0; k < n; k++) {
      const i = (from + k) & mask;
      names[i] = '';
      before[i] = null;
    }
  }

  /** Moves the live records to new arrays of `capacity` slots (a power of two, above `#count`), from slot 0. */
  #resize(capacity: number): void {
    const names = filled<string>(capacity, '');
    const before = filled<DroppedList | null>(capacity, null);
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head + k) & this.#mask;
      names[k] = this.#names[i]!;
      before[k] = this.#before[i] ?? null;
    }
    this.#names = names;
    this.#before = before;
    this.#mask = capacity - 1;
    this.#head = 0;
    this.#pushes = 0;
    this.#peak = this.#count;
  }
}

/** An array of `n` slots holding `value`, packed (no holes: V8 loads from it without a hole check). */
function filled<T>(n: number, value: T): T[] {
  const a: T[] = [];
  for (let i = 0; i < n; i++) a.push(value);
  return a;
}

function cannotUndo(name: string, what: string) {
  return createError(
    'E_INTERNAL',
    `undoing an unsynced mutation of ${name} (${what}) did not apply; the store reopens its data dir to rebuild the index`,
  );
}
