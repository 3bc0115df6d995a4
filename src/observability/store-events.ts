import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import {
  StoreChannel,
  type CompactionEvent,
  type CompactionFailedEvent,
  type DatabaseEvent,
  type IoEvent,
  type RecoveryEvent,
  type StateEvent,
  type StoreChannelName,
  type SyncEvent,
  type ZeroingEvent,
} from '../store/store-events.js';

/** Receives one store's events, as defined in store/store-events.ts (the metrics implement this). */
export interface StoreEventSink {
  storeSync(event: SyncEvent): void;
  storeRecovery(event: RecoveryEvent): void;
  storeState(event: StateEvent): void;
  storeCompaction(event: CompactionEvent): void;
  storeCompactionFailed(event: CompactionFailedEvent): void;
  storeDatabase(event: DatabaseEvent): void;
  storeIo(event: IoEvent): void;
  storeZeroing(event: ZeroingEvent): void;
}

export interface StoreEventSubscriber {
  /** The store whose events are wanted (`IndexStore.id`); other stores' events are ignored. */
  readonly storeId: string;
  readonly log: Logger;
  readonly sink: StoreEventSink | null;
}

type Message = Record<string, unknown>;

function hasNumbers(m: Message, keys: readonly string[]): boolean {
  return keys.every((k) => typeof m[k] === 'number' && Number.isFinite(m[k]));
}

/**
 * Whether a message has the fields its channel's event type promises. The channels are
 * process-wide names that any code can publish on, so what arrives is checked, not trusted.
 */
const WELL_FORMED: Readonly<Record<StoreChannelName, (m: Message) => boolean>> = {
  [StoreChannel.SYNC]: (m) => hasNumbers(m, ['durationMs', 'records', 'bytes']),
  [StoreChannel.RECOVERY]: (m) => hasNumbers(m, ['durationMs', 'packages', 'records', 'truncatedBytes']),
  [StoreChannel.STATE]: (m) =>
    typeof m.writable === 'boolean' &&
    (m.detail === undefined || typeof m.detail === 'string') &&
    (m.changed === undefined || typeof m.changed === 'boolean') &&
    (m.attempt === undefined || hasNumbers(m, ['attempt'])),
  [StoreChannel.COMPACTION]: (m) => hasNumbers(m, ['durationMs', 'snapshotBytes', 'segmentsDropped']),
  [StoreChannel.COMPACTION_FAILED]: (m) =>
    hasNumbers(m, ['fromSeq', 'toSeq', 'sealedSegments']) &&
    typeof m.code === 'string' &&
    typeof m.detail === 'string' &&
    (m.errno === undefined || typeof m.errno === 'string'),
  [StoreChannel.DATABASE]: (m) =>
    hasNumbers(m, ['durationMs', 'commands', 'attempts', 'poolTotal', 'poolIdle', 'poolWaiting']) &&
    typeof m.failed === 'boolean' &&
    typeof m.circuitOpen === 'boolean',
  [StoreChannel.IO]: (m) =>
    hasNumbers(m, ['durationMs']) &&
    typeof m.op === 'string' &&
    typeof m.path === 'string' &&
    typeof m.stuck === 'boolean' &&
    typeof m.failed === 'boolean',
  [StoreChannel.ZEROING]: (m) => typeof m.path === 'string' && typeof m.detail === 'string',
};

/**
 * Whether a reopen attempt that failed again is logged at warn: the 1st, 2nd, 4th, 8th, ...
 * The reopen retries every few seconds for as long as the disk stays full or broken; a line per
 * attempt would bury the error that said why (logged once, when writability was lost), while
 * lines at doubling intervals still show the outage goes on, with its count and latest reason.
 * The others go to debug; /readyz and `PK info` always show the latest reason.
 */
function loggedAttempt(attempt: number | undefined): boolean {
  return attempt === undefined || (attempt & (attempt - 1)) === 0;
}

/**
 * Subscribes to one store's events: each goes to `sink` (when given) and to the log (syncs at
 * debug, since there is one per group commit; the rest at info, a torn tail and a failed
 * compaction at warn, a loss of writability at error, failed reopens after it at warn then
 * fewer and fewer, see loggedAttempt), with its `storeId`. Events of other stores are ignored; malformed
 * messages are logged and otherwise ignored. Returns the function that unsubscribes.
 */
export function subscribeStoreEvents({ storeId, log, sink }: StoreEventSubscriber): () => void {
  const onEvent: Readonly<Record<StoreChannelName, (m: Message) => void>> = {
    [StoreChannel.SYNC]: (m) => {
      const e = m as unknown as SyncEvent;
      sink?.storeSync(e);
      if (log.isLevelEnabled('debug')) log.debug({ event: 'store.sync', ...e }, 'storage sync');
    },
    [StoreChannel.RECOVERY]: (m) => {
      const e = m as unknown as RecoveryEvent;
      sink?.storeRecovery(e);
      if (e.dataLoss !== undefined && e.dataLoss.length > 0)
        log.error(
          { event: 'store.recovery', ...e },
          'storage recovered WITH DATA LOSS accepted by --accept-data-loss: acknowledged data is gone',
        );
      else if (e.truncatedBytes > 0)
        log.warn({ event: 'store.recovery', ...e }, 'storage recovered; a torn tail was truncated');
      else log.info({ event: 'store.recovery', ...e }, 'storage recovered');
    },
    [StoreChannel.STATE]: (m) => {
      const e = m as unknown as StateEvent;
      sink?.storeState(e);
      if (e.changed === false) {
        const still = { event: 'store.state', ...e };
        const msg = 'storage still not writable: mutations are answered ERROR';
        if (loggedAttempt(e.attempt)) log.warn(still, msg);
        else if (log.isLevelEnabled('debug')) log.debug(still, msg);
      } else if (e.writable) log.info({ event: 'store.state', ...e }, 'storage writable again');
      else log.error({ event: 'store.state', ...e }, 'storage not writable: mutations are answered ERROR');
    },
    [StoreChannel.COMPACTION]: (m) => {
      const e = m as unknown as CompactionEvent;
      sink?.storeCompaction(e);
      log.info({ event: 'store.compaction', ...e }, 'storage compacted');
      if (e.priorityError !== undefined)
        log.warn(
          { event: 'store.compaction.priority', storeId: e.storeId, error: e.priorityError },
          'the compaction thread could not lower its priority: it shares the CPU with the threads serving clients as their equal (allow setpriority(2) in the seccomp profile, or set --compaction-nice 0 to stop asking)',
        );
    },
    [StoreChannel.COMPACTION_FAILED]: (m) => {
      const e = m as unknown as CompactionFailedEvent;
      sink?.storeCompactionFailed(e);
      log.warn(
        { event: 'store.compaction.failed', ...e },
        'compaction failed: the log keeps growing until one succeeds (retried at the next rotation); fix what detail says (ENOSPC: free space; something in the way of the snapshot: move it away), see the runbook on PkgIndexCompactionFailing',
      );
    },
    [StoreChannel.DATABASE]: (m) => {
      const e = m as unknown as DatabaseEvent;
      sink?.storeDatabase(e);
      // One per batch: at debug, unless it failed or needed retries (conflicts with other instances).
      if (e.commands > 0 && (e.failed || e.attempts > 1))
        log.warn(
          { event: 'store.database', ...e },
          e.failed ? 'database batch failed' : 'database batch retried',
        );
      else if (log.isLevelEnabled('debug')) log.debug({ event: 'store.database', ...e }, 'database batch');
    },
    [StoreChannel.IO]: (m) => {
      const e = m as unknown as IoEvent;
      sink?.storeIo(e);
      if (e.stuck)
        log.error(
          { event: 'store.io', ...e },
          e.compaction === true
            ? 'compaction storage operation stuck past the deadline: compaction abandoned, writes go on'
            : 'storage operation stuck past the deadline: held replies answered ERROR',
        );
      else log.warn({ event: 'store.io', ...e }, 'stuck storage operation completed');
    },
    [StoreChannel.ZEROING]: (m) => {
      const e = m as unknown as ZeroingEvent;
      sink?.storeZeroing(e);
      log.warn(
        { event: 'store.zeroing', ...e },
        'log zeroing stopped: commits grow the log file until the next segment',
      );
    },
  };
  const handlers = (Object.keys(onEvent) as StoreChannelName[]).map((channel) => {
    const handler = (message: unknown): void => {
      const m = (typeof message === 'object' && message !== null ? message : {}) as Message;
      const stamped = typeof m.storeId === 'string';
      if (stamped && m.storeId !== storeId) return;
      if (stamped && WELL_FORMED[channel](m)) onEvent[channel](m);
      else log.warn({ channel, message }, 'malformed storage event ignored');
    };
    return [channel, handler] as const;
  });
  for (const [channel, handler] of handlers) subscribe(channel, handler);
  return () => {
    for (const [channel, handler] of handlers) unsubscribe(channel, handler);
  };
}
