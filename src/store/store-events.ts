import diagnostics_channel from 'node:diagnostics_channel';

/**
 * Observability of the disk store, published on node:diagnostics_channel so that metrics and
 * logs subscribe without the store knowing them. Publishers check `hasSubscribers` first, so
 * an unobserved store builds no event objects.
 */
export const StoreChannel = {
  SYNC: 'pkgindex:store:sync',
  RECOVERY: 'pkgindex:store:recovery',
  STATE: 'pkgindex:store:state',
  COMPACTION: 'pkgindex:store:compaction',
} as const;

/** One fdatasync of the log made `records` records (`bytes` bytes) durable. */
export interface SyncEvent {
  readonly durationMs: number;
  readonly records: number;
  readonly bytes: number;
}

/** The state was rebuilt from disk: at open, and after a failure. */
export interface RecoveryEvent {
  readonly durationMs: number;
  readonly packages: number;
  readonly records: number;
  readonly truncatedBytes: number;
}

/** Whether mutations can be made durable changed. */
export interface StateEvent {
  readonly writable: boolean;
  readonly detail: string | undefined;
}

/** A snapshot replaced sealed log segments. */
export interface CompactionEvent {
  readonly durationMs: number;
  readonly snapshotBytes: number;
  readonly segmentsDropped: number;
}

export const syncChannel = diagnostics_channel.channel(StoreChannel.SYNC);
export const recoveryChannel = diagnostics_channel.channel(StoreChannel.RECOVERY);
export const stateChannel = diagnostics_channel.channel(StoreChannel.STATE);
export const compactionChannel = diagnostics_channel.channel(StoreChannel.COMPACTION);
