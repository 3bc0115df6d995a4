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
  #names: string[] = [];
  #before: (DroppedList | null)[] = [];
  /** Record number of `#names[#head]`. */
  #base = 0;
  #head = 0;

  /** Records numbered below this are no longer undoable. */
  get start(): number {
    return this.#base;
  }

  /** The record number the next `push` gets. */
  get end(): number {
    return this.#base + this.#names.length - this.#head;
  }

  /** Remembers how to undo the next record: `name` had `before` (null: not indexed). */
  push(name: string, before: DroppedList | null): void {
    this.#names.push(name);
    this.#before.push(before);
  }

  /** Forgets the records below `durable`: they can no longer be taken back. */
  trim(durable: number): void {
    const drop = Math.min(durable, this.end) - this.#base;
    if (drop <= 0) return;
    this.#head += drop;
    this.#base += drop;
    if (this.#head === this.#names.length) {
      this.#names.length = 0;
      this.#before.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#names.length) {
      this.#names = this.#names.slice(this.#head);
      this.#before = this.#before.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Undoes every record from `kept` on, newest first; returns how many. */
  rollback(graph: DependencyGraph, kept: number): number {
    const from = Math.max(kept, this.#base);
    let undone = 0;
    for (let n = this.end - 1; n >= from; n--) {
      const i = this.#head + n - this.#base;
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
    this.#names.length = this.#before.length = this.#head + from - this.#base;
    return undone;
  }

  /** Forgets everything, for a new log whose records are numbered from `base`. */
  reset(base = 0): void {
    this.#names = [];
    this.#before = [];
    this.#head = 0;
    this.#base = base;
  }
}

function cannotUndo(name: string, what: string) {
  return createError(
    'E_INTERNAL',
    `undoing an unsynced mutation of ${name} (${what}) did not apply; the store reopens its data dir to rebuild the index`,
  );
}
