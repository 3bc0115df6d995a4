import { createError } from '../errors.js';
import {
  IndexOutcome,
  RemoveOutcome,
  droppedName,
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
   * Two rings, kept across group commits rather than emptied (an array whose length is set
   * to 0 loses its backing store, and one sliced to drop its head is a copy, so both grew again
   * on every group commit: 46 instructions and 1.7 L1 misses per line on the durable mutation
   * load). Records: the `#count` slots from `#head` on, modulo a power of two, each a name and
   * how many dependencies it had (-1: not indexed). Dependencies: their names, in record
   * order, in a ring of their own. The names are copied out of the list the graph handed
   * back, which is not kept: those lists are young arrays (a removed package's, a copy of a
   * re-indexed one's), and thousands kept until the group commit survived a scavenge each
   * turn; the names are the packages' own strings, alive anyway. Forgotten slots are cleared.
   */
  #names: string[];
  #counts: number[];
  #mask: number;
  #head = 0;
  #count = 0;
  /** Record number of the slot at `#head`. */
  #base = 0;
  #deps: string[];
  #depMask: number;
  #depHead = 0;
  #depCount = 0;
  readonly #initial: number;
  readonly #depInitial: number;
  /** Pushes since the capacities were last checked, and the most held meanwhile. */
  #pushes = 0;
  #peak = 0;
  #depPeak = 0;

  /** `initialCapacity`: records to start with, rounded up to a power of two (tests use a few). */
  constructor(initialCapacity = 1024) {
    this.#initial = powerOfTwo(initialCapacity);
    this.#depInitial = this.#initial * 4;
    this.#names = filled<string>(this.#initial, '');
    this.#counts = filled<number>(this.#initial, 0);
    this.#mask = this.#initial - 1;
    this.#deps = filled<string>(this.#depInitial, '');
    this.#depMask = this.#depInitial - 1;
  }

  /** Records numbered below this are no longer undoable. */
  get start(): number {
    return this.#base;
  }

  /** The record number the next `push` gets. */
  get end(): number {
    return this.#base + this.#count;
  }

  /** Record slots now allocated (for tests: it grows with the records kept, and shrinks back). */
  get capacity(): number {
    return this.#mask + 1;
  }

  /** Dependency slots now allocated (for tests, as `capacity`). */
  get dependencyCapacity(): number {
    return this.#depMask + 1;
  }

  /** Remembers how to undo the next record: `name` had `before` (null: not indexed). */
  push(name: string, before: DroppedList | null): void {
    if (this.#count > this.#mask) this.#resizeRecords((this.#mask + 1) * 2);
    else if (++this.#pushes > 4 * this.#mask) this.#maybeShrink();
    const n = before === null ? -1 : before.length;
    if (n > 0) {
      const held = this.#depCount + n;
      if (held > this.#depMask + 1) this.#resizeDependencies(powerOfTwo(held * 2));
      const deps = this.#deps;
      const mask = this.#depMask;
      const at = this.#depHead + this.#depCount;
      for (let k = 0; k < n; k++) deps[(at + k) & mask] = droppedName(before!, k);
      this.#depCount = held;
      if (held > this.#depPeak) this.#depPeak = held;
    }
    const i = (this.#head + this.#count) & this.#mask;
    this.#names[i] = name;
    this.#counts[i] = n;
    if (++this.#count > this.#peak) this.#peak = this.#count;
  }

  /** Forgets the records below `durable`: they can no longer be taken back. */
  trim(durable: number): void {
    const drop = Math.min(durable, this.end) - this.#base;
    if (drop <= 0) return;
    const names = this.#names;
    const counts = this.#counts;
    const mask = this.#mask;
    let deps = 0;
    for (let k = 0; k < drop; k++) {
      const i = (this.#head + k) & mask;
      const n = counts[i]!;
      if (n > 0) deps += n;
      names[i] = '';
    }
    this.#clearDependencies(this.#depHead, deps);
    this.#depHead = (this.#depHead + deps) & this.#depMask;
    this.#depCount -= deps;
    this.#head = (this.#head + drop) & mask;
    this.#count -= drop;
    this.#base += drop;
  }

  /** Undoes every record from `kept` on, newest first; returns how many. */
  rollback(graph: DependencyGraph, kept: number): number {
    const from = Math.max(kept, this.#base);
    let undone = 0;
    // The dependencies of the newest record end the ring: walk back from there.
    let depEnd = this.#depCount;
    for (let r = this.end - 1; r >= from; r--) {
      const i = (this.#head + r - this.#base) & this.#mask;
      const name = this.#names[i]!;
      const n = this.#counts[i]!;
      if (n < 0) {
        if (graph.remove(name) !== RemoveOutcome.REMOVED) throw cannotUndo(name, 'remove');
      } else {
        depEnd -= n;
        const deps: string[] = [];
        for (let k = 0; k < n; k++) deps.push(this.#deps[(this.#depHead + depEnd + k) & this.#depMask]!);
        const outcome = graph.index(name, deps);
        if (outcome !== IndexOutcome.ADDED && outcome !== IndexOutcome.REPLACED)
          throw cannotUndo(name, 'index');
      }
      this.#names[i] = '';
      undone++;
    }
    this.#clearDependencies((this.#depHead + depEnd) & this.#depMask, this.#depCount - depEnd);
    this.#depCount = depEnd;
    this.#count = Math.max(0, from - this.#base);
    return undone;
  }

  /** Forgets everything, for a new log whose records are numbered from `base`. */
  reset(base = 0): void {
    for (let k = 0; k < this.#count; k++) this.#names[(this.#head + k) & this.#mask] = '';
    this.#clearDependencies(this.#depHead, this.#depCount);
    this.#head = this.#count = this.#depHead = this.#depCount = 0;
    this.#base = base;
    if (this.#mask + 1 > this.#initial) this.#resizeRecords(this.#initial);
    if (this.#depMask + 1 > this.#depInitial) this.#resizeDependencies(this.#depInitial);
  }

  /**
   * After a burst (a sync that took long while mutations went on), gives the memory back:
   * checked every four turns of the record ring, each ring shrinks to between two and four
   * times the most it held over them, so that the usual group commit never makes it grow again.
   */
  #maybeShrink(): void {
    const peak = this.#peak;
    const depPeak = this.#depPeak;
    this.#pushes = 0;
    this.#peak = this.#count;
    this.#depPeak = this.#depCount;
    const records = shrunk(this.#mask + 1, peak, this.#initial);
    if (records !== this.#mask + 1) this.#resizeRecords(records);
    const deps = shrunk(this.#depMask + 1, depPeak, this.#depInitial);
    if (deps !== this.#depMask + 1) this.#resizeDependencies(deps);
  }

  #clearDependencies(from: number, n: number): void {
    const deps = this.#deps;
    const mask = this.#depMask;
    for (let k = 0; k < n; k++) deps[(from + k) & mask] = '';
  }

  /** Moves the live records to new arrays of `capacity` slots (a power of two, above `#count`), from slot 0. */
  #resizeRecords(capacity: number): void {
    const names = filled<string>(capacity, '');
    const counts = filled<number>(capacity, 0);
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head + k) & this.#mask;
      names[k] = this.#names[i]!;
      counts[k] = this.#counts[i]!;
    }
    this.#names = names;
    this.#counts = counts;
    this.#mask = capacity - 1;
    this.#head = 0;
    this.#pushes = 0;
    this.#peak = this.#count;
  }

  /** The same for the dependencies' ring. */
  #resizeDependencies(capacity: number): void {
    const deps = filled<string>(capacity, '');
    for (let k = 0; k < this.#depCount; k++) deps[k] = this.#deps[(this.#depHead + k) & this.#depMask]!;
    this.#deps = deps;
    this.#depMask = capacity - 1;
    this.#depHead = 0;
    this.#depPeak = this.#depCount;
  }
}

/** The smallest power of two at least `n` (n >= 1). */
function powerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** A ring's capacity after a check: halved while it stays above `floor` and four times `peak`. */
function shrunk(capacity: number, peak: number, floor: number): number {
  while (capacity > floor && peak * 4 <= capacity) capacity /= 2;
  return capacity;
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
