import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import { PENDING, type IndexStore, type Pending, type StoreHealth } from '../store/store.js';
import { createError } from '../errors.js';
import { CommandLines } from './command-lines.js';

type GraphStats = ReturnType<IndexStore['stats']>;

const REMOTE_HEALTH: StoreHealth = { recovered: true, writable: true };
/** A socket thread knows nothing of the index; the owner reports its size. */
const NO_STATS: GraphStats = Object.freeze({ packages: 0, edges: 0 });

/** The batch of one turn: the replies of every connection that executed during it. */
interface Turn {
  readonly promise: Promise<Uint8Array>;
  resolve(replies: Uint8Array): void;
  reject(err: Error): void;
}

function newTurn(): Turn {
  let resolve!: (replies: Uint8Array) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<Uint8Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The index as a socket thread sees it: owned by the main thread (ADR 0010). Every command is
 * answered PENDING and appended, as a protocol line, to this turn's batch; at the end of the
 * turn (setImmediate: after every read of the turn's poll) the batch goes to the owner in one
 * message, and each connection's barrier resolves with its slice of the owner's replies, which
 * the owner sends only once what they observed is durable (ADR 0007). Reads are decided by
 * the owner too, in the same serial order as writes: a socket thread has no copy of the
 * index, so every reply is linearizable.
 */
export class RemoteStore implements IndexStore {
  readonly id: string;
  readonly #send: (lines: Uint8Array, count: number) => void;
  readonly #lines = new CommandLines();
  /** Index in this turn's batch of the first command of the open connection batch. */
  #batchStart = 0;
  #turn: Turn | null = null;
  /** Turns sent and not yet answered, oldest first (the owner answers in order). */
  readonly #inFlight: Turn[] = [];
  #scheduled = false;
  readonly #flush = (): void => {
    this.#scheduled = false;
    const turn = this.#turn;
    if (turn === null) return;
    const count = this.#lines.count;
    this.#turn = null;
    this.#batchStart = 0;
    this.#inFlight.push(turn);
    this.#send(this.#lines.take(), count);
  };

  constructor(id: string, send: (lines: Uint8Array, count: number) => void) {
    this.id = id;
    this.#send = send;
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  execute(command: Command): Pending {
    this.#lines.append(command);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return PENDING;
  }

  barrier(): Promise<ArrayLike<Reply>> {
    const turn = (this.#turn ??= newTurn());
    const start = this.#batchStart;
    const end = this.#lines.count;
    this.#batchStart = end;
    return turn.promise.then((replies) => replies.subarray(start, end) as unknown as ArrayLike<Reply>);
  }

  /** The owner's replies to the oldest batch in flight. */
  settle(replies: Uint8Array): void {
    this.#inFlight.shift()?.resolve(replies);
  }

  /** The oldest batch in flight could not be made durable (or the owner is gone). */
  fail(): void {
    this.#inFlight.shift()?.reject(createError('E_THREAD', 'the index owner could not decide this batch'));
  }

  /** Fails every batch in flight: the owner will not answer them. */
  failAll(): void {
    while (this.#inFlight.length > 0) this.fail();
  }

  health(): StoreHealth {
    return REMOTE_HEALTH;
  }

  stats(): GraphStats {
    return NO_STATS;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
