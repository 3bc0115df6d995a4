import { Reply } from '../protocol/reply.js';
import { Verb } from '../protocol/command.js';

/** Rows of `ServerStats.commands`: the three verbs, then lines that did not parse. */
export const COMMAND_ROWS = [Verb.INDEX, Verb.REMOVE, Verb.QUERY, 'INVALID'] as const;
export type CommandRow = (typeof COMMAND_ROWS)[number];
/**
 * The row of `verb` in COMMAND_ROWS. Comparisons, not a table keyed by the verb: V8 does not
 * inline a keyed load that sees three different names; the table cost a call of
 * KeyedLoadIC_Megamorphic per line, 95 instructions (`measure instructions --top`).
 */
export function rowOfVerb(verb: Verb): number {
  return verb === Verb.QUERY ? 2 : verb === Verb.INDEX ? 0 : 1;
}
export const INVALID_ROW = 3;

/** Takes one latency sample, in milliseconds; the metrics' histogram implements it. */
export interface LatencyRecorder {
  record(ms: number): void;
  /** Upper bounds of its buckets (ms), so that another thread can count in the same ones. */
  readonly bounds?: readonly number[];
  /** Adds another thread's samples, counted per bucket of `bounds` (see threads/). */
  merge?(counts: ArrayLike<number>, sum: number, count: number): void;
}

/**
 * Counters of one server, plain numbers incremented on the hot path and read by the metrics
 * exporter at scrape time (nothing heavier happens per command).
 */
export class ServerStats {
  connectionsOpen = 0;
  connectionsTotal = 0;
  connectionsRefused = 0;
  connectionsIdleClosed = 0;
  /** Connections read into the shared buffer (the others fell back to Node's reads). */
  connectionsSharedReads = 0;
  /**
   * Whether --shared-read-buffer is on: configuration, not a counter, exported so that an
   * alert can tell a fallback to Node's reads from an operator's choice.
   */
  sharedReadBuffer = false;
  bytesIn = 0;
  bytesOut = 0;
  linesTooLong = 0;
  /** Slices that ended because a connection used up --slice-us (the rest waits in the run queue). */
  turnsYielded = 0;
  /** Commands the store suspended (a long cycle check, or a mutation queued behind one). */
  commandsSuspended = 0;
  /** Connections refused because their address held --max-connections-per-peer. */
  connectionsRefusedPerPeer = 0;
  /** Accepts that failed (EMFILE, ENFILE: out of file descriptors): the client was reset. */
  acceptErrors = 0;
  /** Connections refused because the file descriptor limit left no room (see descriptor-budget.ts). */
  connectionsRefusedDescriptors = 0;
  /** io_uring submissions of the native layer, each a turn's socket reads or writes (ADR 0023). */
  ioRingSubmissions = 0;
  /** Times the native layer's inline thread stopped reading behind the store (ADR 0025). */
  ioReadPauses = 0;
  /** Mutations answered ERROR by --mutation-rate-per-peer. */
  commandsRateLimited = 0;
  /** INDEX lines answered ERROR by --max-packages and by --max-dependencies. */
  commandsOverPackageCap = 0;
  commandsOverDependencyCap = 0;
  /** Replies sent as ERROR because the store could not make their batch durable. */
  repliesFailedDurability = 0;
  /** `commands[row * 3 + reply]`, rows as in COMMAND_ROWS, replies as in Reply. */
  readonly commands = new Float64Array(COMMAND_ROWS.length * 3);
  /**
   * Milliseconds from a read chunk's arrival to its replies being queued for the socket, one
   * sample per chunk that produced replies. Null (and not measured) unless metrics are exported.
   */
  commandLatency: LatencyRecorder | null = null;

  count(row: CommandRow, reply: Reply): number {
    return this.commands[COMMAND_ROWS.indexOf(row) * 3 + reply]!;
  }
}
