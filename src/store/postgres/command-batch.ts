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
  readonly verbs: number[] = [];
  readonly names: string[] = [];
  readonly deps: string[] = [];
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
}
