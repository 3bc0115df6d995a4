import type { LatencyCounts } from './thread-latency.js';
import type { HopCounts } from './ring-channel.js';

/**
 * What the index owner (the main thread) and a socket thread say to each other over the
 * worker's message port. One `batch` per socket thread per turn of its event loop, answered
 * by one `replies` (or `failed`), in the order the batches were sent — or, with the rings of
 * `--thread-hop ring` (ring.ts), the same batches and replies as ring records, and the port
 * carries only the rest (and, with `ring-doorbell`, the wake-ups).
 */
export type ToOwner =
  | { readonly t: 'listening' }
  | { readonly t: 'start-failed'; readonly reason: string }
  /** Protocol lines, each ended by `\n` (see command-lines.ts), `count` of them. */
  | { readonly t: 'batch'; readonly lines: Uint8Array; readonly count: number }
  /** One pino JSON line, for the owner's logger. */
  | { readonly t: 'log'; readonly line: string }
  | { readonly t: 'stats'; readonly stats: ThreadStats }
  | { readonly t: 'closed' }
  /** Records wait in the ring to the owner, which had gone idle (--thread-hop ring-doorbell). */
  | { readonly t: 'doorbell' };

export type ToSocketThread =
  /** One reply per line of the oldest unanswered batch, as Reply values. */
  | { readonly t: 'replies'; readonly replies: Uint8Array }
  /** The oldest unanswered batch could not be made durable: every reply is ERROR. */
  | { readonly t: 'failed' }
  /** Report your counters now (a `stats` message). */
  | { readonly t: 'stats' }
  /** Graceful shutdown: stop accepting, answer what was read, close, then say `closed`. */
  | { readonly t: 'drain' }
  /** Records wait in the ring from the owner (--thread-hop ring-doorbell). */
  | { readonly t: 'doorbell' };

/** How batches and replies travel between a socket thread and the owner (--thread-hop). */
export type ThreadHop = 'ring' | 'ring-doorbell' | 'message';

/** Ring record tag of a batch that could not be made durable (a reply record's tag is its count). */
export const FAILED_TAG = -1;

/** The counters of a socket thread's server, summed into the owner's metrics. */
export interface ThreadStats {
  readonly connectionsTotal: number;
  readonly connectionsRefused: number;
  readonly connectionsIdleClosed: number;
  readonly connectionsSharedReads: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly linesTooLong: number;
  readonly repliesFailedDurability: number;
  // Issue 12: fair service and limits per client (src/server/).
  readonly turnsYielded: number;
  readonly commandsSuspended: number;
  readonly connectionsRefusedPerPeer: number;
  readonly acceptErrors: number;
  readonly commandsRateLimited: number;
  readonly commandsOverPackageCap: number;
  readonly commandsOverDependencyCap: number;
  readonly connectionsRefusedDescriptors: number;
  /** io_uring submissions (the native layer's threads; 0 for a socket thread). */
  readonly ioRingSubmissions: number;
  /** Times the native layer's inline thread stopped reading behind the store (ADR 0025; 0 for a socket thread). */
  readonly ioReadPauses: number;
  readonly commands: readonly number[];
  /** Command latency, cumulative (null: not measured, the owner exports no metrics). */
  readonly latency: LatencyCounts | null;
  /** The thread's end of its rings (null: --thread-hop message). */
  readonly hop: HopCounts | null;
  /** Batches sent to the owner, and the commands in them. */
  readonly batches: number;
  readonly batchedCommands: number;
}
