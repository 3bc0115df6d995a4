import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import type { GraphStats } from '../graph/dependency-graph.js';

/** What readiness checks and logs need to know about a store. */
export interface StoreHealth {
  /** Recovery has finished and commands can be executed. */
  readonly recovered: boolean;
  /** Mutations can be made durable right now. When false, they are answered ERROR. */
  readonly writable: boolean;
  /** Why the store is not writable, for logs and /readyz. */
  readonly detail?: string;
}

/**
 * The one interface through which the server reaches the index. The network code knows
 * nothing else of storage, so another backend can be put behind it.
 *
 * Contract:
 * - `execute` applies a command to the serving state at once and returns its reply, so that
 *   pipelined commands on any connection see each other in arrival order;
 * - the command passed to `execute`, its `deps` included, is valid only during the call: the
 *   server parses every line into the same object (a CommandSlot), so a store that keeps a
 *   name list copies it;
 * - a reply must not reach a client before the state it observed is durable. After executing
 *   a batch of commands the caller asks for `barrier()`: null means everything executed so far
 *   is durable and the replies can be sent; a promise resolves when it is, and rejects when it
 *   cannot be, in which case every reply held behind it must be sent as ERROR instead.
 */
export interface IndexStore {
  /**
   * Names this store in the storage events it publishes (see store-events.ts), unique in the
   * process, so that a server's subscribers tell its events from another store's.
   */
  readonly id: string;
  /** Recovers the state; called once, before any `execute`. */
  open(): Promise<void>;
  execute(command: Command): Reply;
  barrier(): Promise<void> | null;
  health(): StoreHealth;
  stats(): GraphStats;
  /** Makes everything durable, releases files and locks. Idempotent. */
  close(): Promise<void>;
}
