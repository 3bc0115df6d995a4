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

/** Where a connection's commands went when a turn's batch was sent before its barrier. */
interface Part {
  readonly turn: Turn;
  readonly start: number;
  readonly end: number;
}

/** A batch this large is sent at once, not at the end of the turn (it must fit a ring record). */
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024;

/**
 * The index as a socket thread sees it: owned by the main thread (ADR 0010). Every command is
 * answered PENDING and appended, as a protocol line, to this turn's batch; at the end of the
 * turn (setImmediate: after every read of the turn's poll) the batch goes to the owner in one
 * message, and each connection's barrier resolves with the owner's replies to the turn, its own
 * from `barrierOffset` on, which the owner sends only once what they observed is durable (ADR 0007). Reads are decided by
 * the owner too, in the same serial order as writes: a socket thread has no copy of the
 * index, so every reply is linearizable. A batch that grows past `maxBatchBytes` is sent at
 * once (a connection whose commands straddle two batches gets both slices in its barrier).
 */
export class RemoteStore implements IndexStore {
  readonly id: string;
  /** Sends a batch: `lines` is a view, valid during the call only. */
  readonly #send: (lines: Uint8Array, count: number) => void;
  readonly #maxBatchBytes: number;
  readonly #lines = new CommandLines();
  /** Earlier parts of the open connection batch, sent in batches of their own. */
  #parts: Part[] = [];
  /** Index in this turn's batch of the first command of the open connection batch. */
  #batchStart = 0;
  #turn: Turn | null = null;
  /** Turns sent and not yet answered, oldest first (the owner answers in order). */
  readonly #inFlight: Turn[] = [];
  #scheduled = false;
  /** Batches sent, and the commands in them (plain counters, for the thread's reports). */
  batches = 0;
  batchedCommands = 0;
  readonly #flush = (): void => {
    this.#scheduled = false;
    const turn = this.#turn;
    if (turn === null) return;
    const count = this.#lines.count;
    this.#turn = null;
    this.#batchStart = 0;
    this.#inFlight.push(turn);
    this.batches++;
    this.batchedCommands += count;
    this.#send(this.#lines.view(), count);
    this.#lines.clear();
  };

  constructor(
    id: string,
    send: (lines: Uint8Array, count: number) => void,
    maxBatchBytes = DEFAULT_MAX_BATCH_BYTES,
  ) {
    this.id = id;
    this.#send = send;
    this.#maxBatchBytes = maxBatchBytes;
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  execute(command: Command): Pending {
    if (this.#lines.length >= this.#maxBatchBytes) this.#sendEarly();
    this.#lines.append(command);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return PENDING;
  }

  /**
   * The turn's promise, shared by every connection batch of the turn (see `barrierOffset`):
   * a connection used to get a promise of its own, a callback and a subarray, per read chunk.
   */
  barrier(): Promise<ArrayLike<Reply>> {
    const turn = (this.#turn ??= newTurn());
    const start = this.#batchStart;
    const end = this.#lines.count;
    this.#batchStart = end;
    if (this.#parts.length > 0) {
      this.barrierOffset = 0;
      return this.#joinParts({ turn, start, end });
    }
    this.barrierOffset = start;
    return turn.promise as Promise<ArrayLike<Reply>>;
  }

  /** Where the batch closed by the last `barrier()` starts in its turn's replies. */
  barrierOffset = 0;

  /** Sends this turn's batch now, the open connection batch's part in it remembered. */
  #sendEarly(): void {
    const turn = (this.#turn ??= newTurn());
    this.#parts.push({ turn, start: this.#batchStart, end: this.#lines.count });
    this.#flush();
  }

  /** A connection batch sent in several batches: its replies, in order, once all are decided. */
  async #joinParts(last: Part): Promise<ArrayLike<Reply>> {
    const parts = [...this.#parts, last];
    this.#parts = [];
    const slices = await Promise.all(
      parts.map((p) => p.turn.promise.then((r) => r.subarray(p.start, p.end))),
    );
    return Buffer.concat(slices) as unknown as ArrayLike<Reply>;
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
