import diagnostics_channel from 'node:diagnostics_channel';

/**
 * What storage tells the rest of the process, published on node:diagnostics_channel so that
 * metrics and logs subscribe without the store knowing them. The one definition of the
 * channels and of their events: publishers and subscribers (observability/) both use it.
 *
 * Every event names the store that emitted it (`storeId`): channels are process-wide, and a
 * process may hold several stores (tests, several servers, later several backends), so a
 * subscriber keeps its own store's events and ignores the rest.
 */
export const StoreChannel = {
  SYNC: 'pkgindex:store:sync',
  RECOVERY: 'pkgindex:store:recovery',
  STATE: 'pkgindex:store:state',
  COMPACTION: 'pkgindex:store:compaction',
  COMPACTION_FAILED: 'pkgindex:store:compaction-failed',
  DATABASE: 'pkgindex:store:database',
  IO: 'pkgindex:store:io',
  ZEROING: 'pkgindex:store:zeroing',
} as const;

export type StoreChannelName = (typeof StoreChannel)[keyof typeof StoreChannel];

interface StoreEventBase {
  /** `IndexStore.id` of the store that emitted the event. */
  readonly storeId: string;
}

/** One fdatasync of the log made `records` records (`bytes` bytes) durable. */
export interface SyncEvent extends StoreEventBase {
  readonly durationMs: number;
  readonly records: number;
  readonly bytes: number;
}

/** The state was rebuilt from disk: at open, and after a failure. */
export interface RecoveryEvent extends StoreEventBase {
  readonly durationMs: number;
  readonly packages: number;
  readonly records: number;
  readonly truncatedBytes: number;
  /** Durable data found missing and accepted with --accept-data-loss (see recover.ts). */
  readonly dataLoss?: readonly string[];
}

/**
 * Whether mutations can be made durable changed after the store was opened: it stopped being
 * writable (`detail` says why), or became writable again after that. Opening is no change.
 *
 * `changed` false: no change, the store is still not writable, for a new reason (`detail`):
 * a reopen attempt failed (`attempt`: how many have so far), or a storage operation is stuck.
 * Subscribers count and alert on changes only; absent means true.
 */
export interface StateEvent extends StoreEventBase {
  readonly writable: boolean;
  readonly detail?: string | undefined;
  readonly changed?: boolean;
  readonly attempt?: number;
}

/** A snapshot replaced sealed log segments. */
export interface CompactionEvent extends StoreEventBase {
  readonly durationMs: number;
  readonly snapshotBytes: number;
  readonly segmentsDropped: number;
  /** The nice value the fold's thread ran at (absent: it ran inline, as in tests). */
  readonly threadNice?: number;
  /** Why the thread could not take the nice value asked for (absent: it could, or none was asked). */
  readonly priorityError?: string | undefined;
}

/**
 * A compaction of sealed segments `fromSeq..toSeq` failed (`detail`): the log stays complete
 * without its snapshot and keeps growing until one succeeds; the next rotation tries again.
 */
export interface CompactionFailedEvent extends StoreEventBase {
  readonly fromSeq: number;
  readonly toSeq: number;
  /** Catalogue code of the failure (E_STORAGE_IO, E_STORAGE_CORRUPT, ...). */
  readonly code: string;
  /** The system error beneath it (ENOSPC, EEXIST, EIO, ...), when there is one. */
  readonly errno?: string | undefined;
  readonly detail: string;
  /** Sealed segments not folded into a snapshot now, the failed ones included. */
  readonly sealedSegments: number;
}

/**
 * A database backend finished a round trip (`commands` > 0: a batch, applied or `failed` after
 * `attempts` tries) or its circuit breaker changed (`commands` 0), with its pool's state then.
 */
export interface DatabaseEvent extends StoreEventBase {
  readonly durationMs: number;
  readonly commands: number;
  readonly attempts: number;
  readonly failed: boolean;
  readonly circuitOpen: boolean;
  readonly poolTotal: number;
  readonly poolIdle: number;
  readonly poolWaiting: number;
}

/**
 * A storage operation passed the deadline (`--storage-timeout-ms`) while in flight (`stuck`
 * true, `durationMs` its age then), or such an operation finally completed (`stuck` false,
 * `durationMs` how long it took, `failed` whether it returned an error).
 */
export interface IoEvent extends StoreEventBase {
  readonly op: string;
  readonly path: string;
  readonly durationMs: number;
  readonly stuck: boolean;
  readonly failed: boolean;
  /**
   * An operation of a compaction (true), not of the log: past the deadline the compaction is
   * abandoned and writes go on, nothing is answered ERROR.
   */
  readonly compaction?: boolean;
}

/**
 * The durable log stopped zeroing ahead of its records (ADR 0021) because a zeroing write or
 * sync of `path` failed (`detail`): its commits grow the file, as before there was zeroing,
 * until the next segment tries again. Usually a full disk; otherwise the next commit's own
 * write reports a failing one.
 */
export interface ZeroingEvent extends StoreEventBase {
  readonly path: string;
  readonly detail: string;
}

/** The event each channel carries. */
export interface StoreEventOf {
  [StoreChannel.SYNC]: SyncEvent;
  [StoreChannel.RECOVERY]: RecoveryEvent;
  [StoreChannel.STATE]: StateEvent;
  [StoreChannel.COMPACTION]: CompactionEvent;
  [StoreChannel.COMPACTION_FAILED]: CompactionFailedEvent;
  [StoreChannel.DATABASE]: DatabaseEvent;
  [StoreChannel.IO]: IoEvent;
  [StoreChannel.ZEROING]: ZeroingEvent;
}

const syncChannel = diagnostics_channel.channel(StoreChannel.SYNC);
const recoveryChannel = diagnostics_channel.channel(StoreChannel.RECOVERY);
const stateChannel = diagnostics_channel.channel(StoreChannel.STATE);
const compactionChannel = diagnostics_channel.channel(StoreChannel.COMPACTION);
const compactionFailedChannel = diagnostics_channel.channel(StoreChannel.COMPACTION_FAILED);
const databaseChannel = diagnostics_channel.channel(StoreChannel.DATABASE);
const ioChannel = diagnostics_channel.channel(StoreChannel.IO);
const zeroingChannel = diagnostics_channel.channel(StoreChannel.ZEROING);

/** Ids handed out so far: ids only need to differ within one process. */
let storesCreated = 0;

/** A new store id, unique in this process: `disk-1`, `memory-2`. */
export function nextStoreId(kind: string): string {
  storesCreated++;
  return `${kind}-${storesCreated}`;
}

/**
 * Publishes one store's events, stamped with its id. Each method checks `hasSubscribers`
 * first, so an unobserved store builds no event objects.
 */
export class StoreEventPublisher {
  readonly storeId: string;

  constructor(storeId: string) {
    this.storeId = storeId;
  }

  sync(durationMs: number, records: number, bytes: number): void {
    if (syncChannel.hasSubscribers)
      syncChannel.publish({ storeId: this.storeId, durationMs, records, bytes } satisfies SyncEvent);
  }

  recovery(event: Omit<RecoveryEvent, 'storeId'>): void {
    if (recoveryChannel.hasSubscribers)
      recoveryChannel.publish({ storeId: this.storeId, ...event } satisfies RecoveryEvent);
  }

  state(writable: boolean, detail: string | undefined, changed = true, attempt?: number): void {
    if (stateChannel.hasSubscribers)
      stateChannel.publish({
        storeId: this.storeId,
        writable,
        detail,
        changed,
        ...(attempt === undefined ? {} : { attempt }),
      } satisfies StateEvent);
  }

  compaction(event: Omit<CompactionEvent, 'storeId'>): void {
    if (compactionChannel.hasSubscribers)
      compactionChannel.publish({ storeId: this.storeId, ...event } satisfies CompactionEvent);
  }

  compactionFailed(event: Omit<CompactionFailedEvent, 'storeId'>): void {
    if (compactionFailedChannel.hasSubscribers)
      compactionFailedChannel.publish({ storeId: this.storeId, ...event } satisfies CompactionFailedEvent);
  }

  database(event: Omit<DatabaseEvent, 'storeId'>): void {
    if (databaseChannel.hasSubscribers)
      databaseChannel.publish({ storeId: this.storeId, ...event } satisfies DatabaseEvent);
  }

  io(event: Omit<IoEvent, 'storeId'>): void {
    if (ioChannel.hasSubscribers) ioChannel.publish({ storeId: this.storeId, ...event } satisfies IoEvent);
  }

  zeroingStopped(path: string, detail: string): void {
    if (zeroingChannel.hasSubscribers)
      zeroingChannel.publish({ storeId: this.storeId, path, detail } satisfies ZeroingEvent);
  }
}
