import { Verb, type Command } from '../../protocol/command.js';
import type { Reply } from '../../protocol/reply.js';

/** Verb codes of pkgindex_apply (migrations.ts). */
const VERB_CODE = { [Verb.INDEX]: 0, [Verb.REMOVE]: 1, [Verb.QUERY]: 2 } as const;

/** One connection's batch inside a group: where its commands are, and who waits for their replies. */
export interface Waiter {
  readonly start: number;
  readonly count: number;
  readonly resolve: (replies: ArrayLike<Reply>) => void;
  readonly reject: (err: Error) => void;
}

/**
 * The commands of one database round trip, as the three parallel arrays pkgindex_apply takes,
 * and the connection batches they came from in order. Encoding copies the command (the
 * server's command slot is overwritten by the next line).
 */
export class CommandGroup {
  verbs: number[] = [];
  names: string[] = [];
  deps: string[] = [];
  readonly waiters: Waiter[] = [];
  /** performance.now() of the first command: where a trace of the batch begins. */
  firstAt = 0;
  /** Commands of the connection batch being executed start here. */
  #batchStart = 0;

  get size(): number {
    return this.verbs.length;
  }

  add(command: Command): void {
    if (this.verbs.length === 0) this.firstAt = performance.now();
    this.verbs.push(VERB_CODE[command.verb]);
    this.names.push(command.name);
    this.deps.push(command.verb === Verb.INDEX ? command.deps.join(',') : '');
  }

  /** Commands added since the last `close` or `discard`. */
  get open(): number {
    return this.verbs.length - this.#batchStart;
  }

  /** Ends the connection batch being executed: its replies go to `resolve`. */
  close(resolve: Waiter['resolve'], reject: Waiter['reject']): void {
    this.waiters.push({ start: this.#batchStart, count: this.open, resolve, reject });
    this.#batchStart = this.verbs.length;
  }

  /** Drops the connection batch being executed (it is refused without reaching the database). */
  discard(): void {
    this.verbs.length = this.names.length = this.deps.length = this.#batchStart;
  }

  /**
   * Moves the commands `from` holds (one connection batch being executed, none closed) to the
   * end of this group, as the batch being executed here; `from` is left empty. When this group
   * is empty the arrays are swapped, not copied.
   */
  takeOpen(from: CommandGroup): void {
    if (this.verbs.length === 0) {
      [this.verbs, from.verbs] = [from.verbs, this.verbs];
      [this.names, from.names] = [from.names, this.names];
      [this.deps, from.deps] = [from.deps, this.deps];
      this.firstAt = from.firstAt;
      return;
    }
    for (let i = 0; i < from.verbs.length; i++) {
      this.verbs.push(from.verbs[i]!);
      this.names.push(from.names[i]!);
      this.deps.push(from.deps[i]!);
    }
    from.verbs.length = from.names.length = from.deps.length = 0;
  }
}

/** Lock slots of pkgindex_apply_ordered (migration 3). */
export const LOCK_SLOTS = 65_536;

/** FNV-1a of the name's UTF-16 code units, folded to a lock slot. */
export function lockSlot(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % LOCK_SLOTS;
}

/**
 * The slots a group locks before its row locks, ascending: a package it changes (INDEX,
 * REMOVE) as its slot, exclusive; one it only depends on as -1 - slot, shared. QUERYs lock
 * nothing.
 */
export function lockSlots(group: CommandGroup): number[] {
  const exclusive = new Map<number, boolean>();
  const { verbs, names, deps } = group;
  for (let i = 0; i < verbs.length; i++) {
    const verb = verbs[i]!;
    if (verb === VERB_CODE[Verb.QUERY]) continue;
    exclusive.set(lockSlot(names[i]!), true);
    if (verb !== VERB_CODE[Verb.INDEX] || deps[i] === '') continue;
    for (const d of deps[i]!.split(',')) {
      const slot = lockSlot(d);
      if (!exclusive.has(slot)) exclusive.set(slot, false);
    }
  }
  const slots = [...exclusive.keys()].sort((a, b) => a - b);
  for (let i = 0; i < slots.length; i++) if (exclusive.get(slots[i]!) === false) slots[i] = -1 - slots[i]!;
  return slots;
}
