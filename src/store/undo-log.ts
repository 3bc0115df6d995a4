import { createError } from '../errors.js';
import {
  IndexOutcome,
  KEPT_BY_SINK,
  RemoveOutcome,
  droppedNames,
  type DependencyGraph,
  type DroppedList,
  type DroppedSink,
} from '../graph/dependency-graph.js';

/**
 * How to take back the mutations applied to the serving graph that are not yet durable, so
 * that after a failed sync the graph returns to exactly what a restart would recover before
 * anything else is answered (docs/adr/0015-rollback-and-io-deadline.md).
 *
 * One entry per logged record, numbered like the log writer numbers its records (0 for the
 * writer's first): the name and the dependency list the change took from it, as the graph
 * handed it back (`DependencyGraph.dropped`; null: it was not indexed). Nothing is copied
 * per record: the names are read from that list only when a rollback needs them. A list that
 * a replacement rewrites in place is kept here if the graph was given this log as its sink
 * (`keepDropped(undo)`): its elements copied into a second ring, the spans, which is reused
 * like the first instead of an array per replacement.
 * Undoing in reverse order always applies, because each step returns the graph to a state it
 * was in: a package added has no dependents yet, a package removed had none, and a list
 * replaced refers to packages the mutation did not touch.
 */
export class UndoLog implements DroppedSink {
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
  /**
   * The lists kept for the graph (`keep`), their elements one after the other: live from
   * `#spanHead` to `#spanTail`, positions that only grow (a slot is `position & #spanMask`, so
   * growing the ring keeps every position). A record's span starts at `#spanAt` (-1: none) and
   * has `#spanLength` elements; records take spans in their order. `#kept`: the length of the
   * list `keep` copied last, at `#spanTail`, which the next push takes (or the next keep
   * overwrites: a change the store does not log, as a rollback's own).
   */
  #spans: unknown[];
  #spanMask: number;
  #spanHead = 0;
  #spanTail = 0;
  #spanPeak = 0;
  #kept = 0;
  /** Past the last slot `keep` wrote: a keep no push took (a rollback's) is cleared up to it. */
  #spanWritten = 0;
  #spanAt: Float64Array;
  #spanLength: Int32Array;

  /** `initialCapacity`: slots to start with, rounded up to a power of two (tests use a few). */
  constructor(initialCapacity = 1024) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.#initial = capacity;
    this.#names = filled<string>(capacity, '');
    this.#before = filled<DroppedList | null>(capacity, null);
    this.#mask = capacity - 1;
    this.#spanAt = new Float64Array(capacity).fill(-1);
    this.#spanLength = new Int32Array(capacity);
    this.#spans = filled<unknown>(4 * capacity, null);
    this.#spanMask = 4 * capacity - 1;
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

  /** Slots of the ring of kept lists now allocated (for tests, as `capacity`). */
  get spanCapacity(): number {
    return this.#spanMask + 1;
  }

  /** DroppedSink: copies `list`, which the graph is about to rewrite, for the next push. */
  keep(list: readonly unknown[]): void {
    const n = list.length;
    // A list kept before and not pushed is overwritten (see #kept).
    this.#kept = 0;
    const used = this.#spanTail - this.#spanHead + n;
    if (used > this.#spanMask + 1) this.#resizeSpans(used);
    if (used > this.#spanPeak) this.#spanPeak = used;
    const spans = this.#spans;
    const mask = this.#spanMask;
    const tail = this.#spanTail;
    for (let k = 0; k < n; k++) spans[(tail + k) & mask] = list[k];
    this.#kept = n;
    if (tail + n > this.#spanWritten) this.#spanWritten = tail + n;
  }

  /**
   * Remembers how to undo the next record: `name` had `before` (null: not indexed;
   * KEPT_BY_SINK: the list this log was last given to `keep`).
   */
  push(name: string, before: DroppedList | null): void {
    if (this.#count > this.#mask) this.#resize((this.#mask + 1) * 2);
    else if (++this.#pushes > 4 * this.#mask) this.#maybeShrink();
    const i = (this.#head + this.#count) & this.#mask;
    this.#names[i] = name;
    this.#before[i] = before;
    if (before === KEPT_BY_SINK) {
      this.#spanAt[i] = this.#spanTail;
      this.#spanLength[i] = this.#kept;
      this.#spanTail += this.#kept;
      this.#kept = 0;
    }
    if (++this.#count > this.#peak) this.#peak = this.#count;
  }

  /** Forgets the records below `durable`: they can no longer be taken back. */
  trim(durable: number): void {
    const drop = Math.min(durable, this.end) - this.#base;
    if (drop <= 0) return;
    this.#clearSpans(this.#head, drop, false);
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
      const before = this.#before[i] === KEPT_BY_SINK ? this.#spanList(i) : (this.#before[i] ?? null);
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
    this.#clearSpans((this.#head + left) & this.#mask, this.#count - left, true);
    this.#clear((this.#head + left) & this.#mask, this.#count - left);
    this.#count = left;
    // The lists the undoing itself handed to `keep`, past the live spans.
    for (let p = this.#spanTail; p < this.#spanWritten; p++) this.#spans[p & this.#spanMask] = null;
    this.#spanWritten = this.#spanTail;
    this.#kept = 0;
    return undone;
  }

  /** Forgets everything, for a new log whose records are numbered from `base`. */
  reset(base = 0): void {
    this.#clearSpans(this.#head, this.#count, false);
    this.#clear(this.#head, this.#count);
    this.#head = 0;
    this.#count = 0;
    this.#base = base;
    this.#spanHead = this.#spanTail = this.#kept = this.#spanWritten = 0;
    if (this.#mask + 1 > this.#initial) this.#resize(this.#initial);
    if (this.#spanMask + 1 > 4 * this.#initial) this.#resizeSpans(0, 4 * this.#initial);
  }

  /** The list of record slot `i`, kept in the spans, as an array (for a rollback). */
  #spanList(i: number): DroppedList {
    const list: unknown[] = [];
    const at = this.#spanAt[i]!;
    for (let k = 0; k < this.#spanLength[i]!; k++) list.push(this.#spans[(at + k) & this.#spanMask]);
    return list as unknown as DroppedList;
  }

  /**
   * Forgets the spans of the `n` records from slot `from` on: the oldest live ones
   * (`newest` false: trimmed, the head moves past them) or the newest (true: rolled back, the
   * tail moves back to the first of them). Their elements are cleared.
   */
  #clearSpans(from: number, n: number, newest: boolean): void {
    const spans = this.#spans;
    const spanMask = this.#spanMask;
    for (let k = 0; k < n; k++) {
      const i = (from + k) & this.#mask;
      const at = this.#spanAt[i]!;
      if (at < 0) continue;
      const end = at + this.#spanLength[i]!;
      for (let p = at; p < end; p++) spans[p & spanMask] = null;
      if (newest) {
        if (at < this.#spanTail) this.#spanTail = at;
      } else this.#spanHead = end;
      this.#spanAt[i] = -1;
    }
  }

  /**
   * Moves the live spans, and the list kept for the next push, to a ring of at least `need`
   * slots (`capacity`: exactly that many, which must hold them).
   */
  #resizeSpans(need: number, capacity = 0): void {
    if (capacity === 0) {
      capacity = this.#spanMask + 1;
      while (capacity < need) capacity *= 2;
    }
    const spans = filled<unknown>(capacity, null);
    const mask = capacity - 1;
    const end = this.#spanTail + this.#kept;
    for (let p = this.#spanHead; p < end; p++) spans[p & mask] = this.#spans[p & this.#spanMask];
    this.#spans = spans;
    this.#spanMask = mask;
    this.#spanPeak = end - this.#spanHead;
    this.#spanWritten = end;
  }

  /**
   * After a burst (a sync that took long while mutations went on), gives the memory back:
   * checked every four turns of the ring, it shrinks to between two and four times the most
   * records it held over them, so that the usual group commit's records never make it grow
   * again.
   */
  #maybeShrink(): void {
    let spanCapacity = this.#spanMask + 1;
    const spanPeak = this.#spanPeak;
    this.#spanPeak = this.#spanTail - this.#spanHead + this.#kept;
    if (spanCapacity > 4 * this.#initial && spanPeak * 4 <= spanCapacity) {
      while (spanCapacity > 4 * this.#initial && spanPeak * 4 <= spanCapacity) spanCapacity /= 2;
      this.#resizeSpans(0, spanCapacity);
    }
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
    const spanAt = new Float64Array(capacity).fill(-1);
    const spanLength = new Int32Array(capacity);
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head + k) & this.#mask;
      names[k] = this.#names[i]!;
      before[k] = this.#before[i] ?? null;
      spanAt[k] = this.#spanAt[i]!;
      spanLength[k] = this.#spanLength[i]!;
    }
    this.#names = names;
    this.#before = before;
    this.#spanAt = spanAt;
    this.#spanLength = spanLength;
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
