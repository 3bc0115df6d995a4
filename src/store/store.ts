import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import type { GraphStats } from '../graph/dependency-graph.js';
import type { IndexReader } from './index-reader.js';

/** What readiness checks and logs need to know about a store. */
export interface StoreHealth {
  /** Recovery has finished and commands can be executed. */
  readonly recovered: boolean;
  /** Mutations can be made durable right now. When false, they are answered ERROR. */
  readonly writable: boolean;
  /** Why the store is not writable, for logs and /readyz. */
  readonly detail?: string;
  /**
   * How long the oldest storage operation now in flight has been running, in ms (absent or 0
   * when none is): what `pkgindex_store_inflight_io_age_seconds` exports, so that a hung disk
   * shows while it hangs.
   */
  readonly inflightIoMs?: number;
}

/**
 * What `execute` answers when the reply is decided later, with the rest of the batch: stores
 * that reach the index asynchronously (a database, an index owned by another thread) queue
 * the command and settle the whole batch at `barrier()`.
 */
export const PENDING = 3;
export type Pending = typeof PENDING;

/**
 * What `execute` answers when the command started work that runs across event-loop turns (a
 * long cycle check, or a mutation queued behind one; see docs/adr/0012): like PENDING, its
 * reply comes with the batch's `barrier()`, but the caller ends the batch after it and
 * executes nothing more for the same client until that barrier has settled, so that the
 * client's later commands observe it. Other clients' QUERYs go on being answered meanwhile.
 */
export const SUSPENDED = 4;
export type Suspended = typeof SUSPENDED;

/**
 * The one interface through which the server reaches the index. The network code knows
 * nothing else of storage, so another backend can be put behind it. The unit of work is a
 * batch: the commands a connection executes between two calls of `barrier()` (one read chunk,
 * or one slice of it); replies come back in order. See docs/adr/0002 and 0007.
 *
 * Contract:
 * - `execute` either decides a command at once against the serving state and returns its
 *   reply, so that pipelined commands on any connection see each other in arrival order
 *   (embedded stores), or queues it and returns PENDING (asynchronous stores, which then keep
 *   the commands of every batch in the order they were executed);
 * - the command passed to `execute`, its `deps` included, is valid only during the call: the
 *   server parses every line into the same object (a CommandSlot), so a store that keeps a
 *   name list copies it;
 * - a reply must not reach a client before the state it observed is durable. After executing
 *   a batch the caller asks for `barrier()`: null means every reply of the batch is final and
 *   the state they observed is durable (not necessarily everything executed so far: the disk
 *   store answers a QUERY of a package no pending record changed at once), so they can be
 *   sent; otherwise a promise that resolves when they can be, with the replies of the batch's
 *   PENDING commands in order (a store that returned no PENDING may resolve with nothing),
 *   and rejects when the state they observed cannot be made durable, in which case every
 *   reply of the batch, and every one held behind it, is sent as ERROR instead;
 * - a store that returned PENDING or SUSPENDED during a batch must return a promise from
 *   `barrier()`; commands executed between two barriers all belong to the same batch, because
 *   the server executes a batch without yielding (it yields between batches: a long read
 *   chunk is executed as several batches, see docs/adr/0012);
 * - SUSPENDED ends the batch: the caller executes no further command of that client before
 *   the barrier has settled.
 */
export interface IndexStore {
  /**
   * Names this store in the storage events it publishes (see store-events.ts), unique in the
   * process, so that a server's subscribers tell its events from another store's.
   */
  readonly id: string;
  /** Recovers the state; called once, before any `execute`. */
  open(): Promise<void>;
  execute(command: Command): Reply | Pending | Suspended;
  /**
   * Ends the batch. `origin` names who executed it (a client connection, a socket thread):
   * an asynchronous store that applies batches concurrently keeps the batches of one origin
   * in the order they were closed, and may reorder those of different origins (ADR 0009).
   * Without it, every batch keeps its place in one order. The embedded stores ignore it.
   */
  // The embedded stores resolve with their group commit's Promise<void>: nothing to decide.
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  barrier(origin?: object): Promise<ArrayLike<Reply> | void> | null;
  /**
   * Read right after `barrier()`: where the replies of the batch it closed start in what that
   * barrier resolves with. A store may give several batches one promise that resolves with the
   * replies of all of them, one batch after another (a socket thread's turn, whose batches the
   * owner answers at once: one promise and one callback per turn instead of one per client);
   * absent means 0, each batch its own promise.
   */
  readonly barrierOffset?: number;
  health(): StoreHealth;
  stats(): GraphStats;
  /**
   * The read side of the same index, for the query API (see index-reader.ts); absent for a
   * store that serves the protocol only (the API then answers E_QUERY_UNAVAILABLE).
   */
  readonly reader?: IndexReader;
  /** Makes everything durable, releases files and locks. Idempotent. */
  close(): Promise<void>;
}
