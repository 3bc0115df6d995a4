import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Logger } from 'pino';

/**
 * Storage events, published by durable stores on node:diagnostics_channel so that storage
 * code needs no metrics or logging dependency. Publishing costs nothing without subscribers.
 */
export const STORE_CHANNELS = {
  sync: 'pkgindex:store:sync',
  recovery: 'pkgindex:store:recovery',
  state: 'pkgindex:store:state',
  compaction: 'pkgindex:store:compaction',
} as const;

/** A group commit made `records` mutations (`bytes` bytes) durable. */
export interface StoreSyncEvent {
  readonly durationMs: number;
  readonly records: number;
  readonly bytes: number;
}

/** Recovery at open finished. */
export interface StoreRecoveryEvent {
  readonly durationMs: number;
  readonly packages: number;
  readonly records: number;
  readonly truncatedBytes: number;
}

/** The store became writable again, or stopped being writable (`detail` says why). */
export interface StoreStateEvent {
  readonly writable: boolean;
  readonly detail?: string;
}

/** A snapshot was written and old log segments dropped. */
export interface StoreCompactionEvent {
  readonly durationMs: number;
  readonly snapshotBytes: number;
  readonly segmentsDropped: number;
}

/** Receives decoded storage events (the metrics side implements this). */
export interface StoreEventSink {
  storeSync(event: StoreSyncEvent): void;
  storeRecovery(event: StoreRecoveryEvent): void;
  storeState(event: StoreStateEvent): void;
  storeCompaction(event: StoreCompactionEvent): void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function numbers<K extends string>(v: unknown, keys: readonly K[]): Record<K, number> | null {
  if (!isRecord(v)) return null;
  for (const k of keys) if (typeof v[k] !== 'number' || !Number.isFinite(v[k])) return null;
  return v as Record<K, number>;
}

/**
 * Subscribes to the storage channels: every event goes to `sink` (when given) and to the log
 * (syncs at debug, since there is one per group commit; the rest at info, a loss of
 * writability at error). Malformed messages are logged and otherwise ignored. Returns the
 * function that unsubscribes.
 */
export function subscribeStoreEvents(log: Logger, sink: StoreEventSink | null): () => void {
  const malformed = (channel: string, message: unknown): void => {
    log.warn({ channel, message }, 'malformed storage event ignored');
  };
  const handlers: Record<string, (message: unknown, name: string | symbol) => void> = {
    [STORE_CHANNELS.sync]: (m) => {
      const e = numbers(m, ['durationMs', 'records', 'bytes'] as const);
      if (e === null) {
        malformed(STORE_CHANNELS.sync, m);
        return;
      }
      sink?.storeSync(e);
      if (log.isLevelEnabled('debug')) log.debug({ event: 'store.sync', ...e }, 'storage sync');
    },
    [STORE_CHANNELS.recovery]: (m) => {
      const e = numbers(m, ['durationMs', 'packages', 'records', 'truncatedBytes'] as const);
      if (e === null) {
        malformed(STORE_CHANNELS.recovery, m);
        return;
      }
      sink?.storeRecovery(e);
      if (e.truncatedBytes > 0)
        log.warn({ event: 'store.recovery', ...e }, 'storage recovered; a torn tail was truncated');
      else log.info({ event: 'store.recovery', ...e }, 'storage recovered');
    },
    [STORE_CHANNELS.state]: (m) => {
      if (!isRecord(m) || typeof m.writable !== 'boolean') {
        malformed(STORE_CHANNELS.state, m);
        return;
      }
      const e: StoreStateEvent =
        typeof m.detail === 'string' ? { writable: m.writable, detail: m.detail } : { writable: m.writable };
      sink?.storeState(e);
      if (e.writable) log.info({ event: 'store.state', ...e }, 'storage writable again');
      else log.error({ event: 'store.state', ...e }, 'storage not writable: mutations are answered ERROR');
    },
    [STORE_CHANNELS.compaction]: (m) => {
      const e = numbers(m, ['durationMs', 'snapshotBytes', 'segmentsDropped'] as const);
      if (e === null) {
        malformed(STORE_CHANNELS.compaction, m);
        return;
      }
      sink?.storeCompaction(e);
      log.info({ event: 'store.compaction', ...e }, 'storage compacted');
    },
  };
  for (const [name, handler] of Object.entries(handlers)) subscribe(name, handler);
  return () => {
    for (const [name, handler] of Object.entries(handlers)) unsubscribe(name, handler);
  };
}
