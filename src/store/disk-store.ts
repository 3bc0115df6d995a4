import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from '../protocol/command.js';
import { Verb } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import { DependencyGraph, type GraphStats } from '../graph/dependency-graph.js';
import { userInfo } from 'node:os';
import { createError, isPkgIndexError, isStorageError, type PkgIndexError } from '../errors.js';
import type { StorageFile, StorageFs } from './fs/storage-fs.js';
import { NodeFs } from './fs/node-fs.js';
import type { IndexStore, StoreHealth, Suspended } from './store.js';
import { SlicedGraph, type SliceOptions } from './sliced-graph.js';
import { InflightFs, IoTracker, type InflightOp } from './fs/inflight-fs.js';
import { GraphReader } from './graph-reader.js';
import { DirLock } from './dir-lock.js';
import { errorText, LogWriter, type SyncMode } from './log-writer.js';
import { recover, type RecoverOptions, type Recovered } from './recover.js';
import { createMissingDir, dirExists, missingDirError, type CreateIndex } from './new-index.js';
import { controlPath, encodeControl, writeControl, type ControlRecord } from './control-file.js';
import { HEADER_BYTES } from './format/file-header.js';
import type { Compactor } from './compaction.js';
import { workerCompactor, type WorkerCompactor } from './compaction-worker.js';
import { CONTROL_FILE, segmentPath, snapshotPath } from './data-dir-files.js';
import { nextStoreId, StoreEventPublisher } from './store-events.js';
import { UndoLog } from './undo-log.js';
import type { Backup, BackupSource } from './backup-source.js';
import { writeArchive, type ArchiveFile } from './backup-archive.js';

export interface DiskStoreOptions {
  readonly dataDir: string;
  /** Default durable. */
  readonly syncMode?: SyncMode;
  /** Relaxed mode: longest time between a write and its fdatasync. Default 100. */
  readonly syncIntervalMs?: number;
  /** Start a new segment and fold sealed ones into a snapshot past this many log bytes. Default 64 MiB. */
  readonly compactAfterBytes?: number;
  /** Default: the real file system. Tests pass a fault-injecting one. */
  readonly fs?: StorageFs;
  /** Default: a worker thread per compaction. */
  readonly compactor?: Compactor;
  /** First and longest wait between attempts to reopen after a failure. Default 50 ms and 5 s. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Default: `disk-N`, unique in the process. */
  readonly id?: string;
  /** Start on what is left when files the control record knows of are missing or short. Default false. */
  readonly acceptDataLoss?: boolean;
  /** Where a new, empty index may be created (see new-index.ts). Default `missing`: only by making the dir. */
  readonly createIndex?: CreateIndex;
  /** Bytes recovery reads at a time. Default 1 MiB. */
  readonly readBufferBytes?: number;
  /** How long cycle checks may hold the event loop (see sliced-graph.ts). */
  readonly slices?: SliceOptions;
  /**
   * Deadline of one storage operation (write, fdatasync, ...), in ms: past it the log is ended
   * as if the operation had failed (held replies ERROR, not writable) and the store reopens once
   * it completes. Default 30 s.
   */
  readonly storageTimeoutMs?: number;
  /**
   * Durable mode: bytes of the log segment zeroed and synced ahead of its records at a time, so
   * that group commits overwrite blocks the file has instead of growing it (log-writer.ts,
   * docs/adr/0021). Default 1 MiB; 0: the log grows with its records.
   */
  readonly preallocateBytes?: number;
  /**
   * How long the store's compaction thread waits for the next compaction before it ends
   * (compaction-worker.ts; default 30 s, 0: a fresh thread per compaction). Not used with
   * `compactor`.
   */
  readonly compactionKeepMs?: number;
  /** Nice value of the compaction thread (see workerCompactor); default 0. */
  readonly compactionNice?: number;
}

/** Default of DiskStoreOptions.preallocateBytes. */
const PREALLOCATE_BYTES = 1024 * 1024;

/** Upper bound of compactAfterBytes: frame bases are u32 offsets in a segment. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** Sealed segments kept before compaction even when they are small (restarts each add one). */
const MAX_SEALED_SEGMENTS = 32;
/**
 * Sealed segments that may wait while a compaction runs. At this many, the next rotation waits
 * for the compaction to finish (the writer holds its acknowledgements, so connections stop
 * being read once their replies pile up): the log after the snapshot stays bounded however
 * fast clients write (issue 11, defect 1). The next compaction folds the segments that waited
 * (up to this many) and as many again may wait behind it, so the bound is 2 × this + 1
 * segment files (with the current one), about that many × --compact-after-bytes: the figure
 * docs/runbook.md and docs/reliability.md give.
 */
export const MAX_SEALED_WHILE_COMPACTING = 4;

/**
 * The durable index: the graph in memory serves every command; a segmented, checksummed log
 * with periodic snapshots holds the truth across restarts (see docs/adr/0001-storage-engine.md).
 *
 * A failed write or sync ends the current log: before anything else is answered, the graph
 * is rolled back to what the log keeps (the undo log takes back every mutation not yet
 * durable), so that no reply, QUERY included, shows a state a restart would not recover.
 * Mutations are then answered ERROR (queries still served) while the store reopens its data
 * dir, with backoff, rebuilding the graph from what is durable and starting a new segment.
 */
export class DiskStore implements IndexStore, BackupSource {
  readonly id: string;
  readonly #events: StoreEventPublisher;
  readonly #dir: string;
  readonly #fs: InflightFs;
  /** The writer's and recovery's storage operations in flight (through #fs). */
  readonly #io: IoTracker;
  /** The running compaction's storage operations in flight (in its thread). */
  readonly #compactionIo: IoTracker;
  readonly #storageTimeoutMs: number;
  #watchdog: NodeJS.Timeout | null = null;
  readonly #syncMode: SyncMode;
  readonly #syncIntervalMs: number;
  readonly #compactAfterBytes: number;
  readonly #preallocateBytes: number;
  readonly #compactor: Compactor;
  /** The compactor's thread, when the store made the compactor itself (ended at close). */
  readonly #ownCompactor: WorkerCompactor | null;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  #graph = new DependencyGraph();
  /** Reads the current graph: a reopen after a failure replaces it. */
  readonly reader: GraphReader;
  /** How to take back the mutations of the current log that are not durable yet. */
  readonly #undo = new UndoLog();
  /**
   * The batch so far observed state that may not be durable yet: it executed a mutation, or
   * a QUERY of a package a record not yet acknowledged changed. Its barrier then waits for
   * the log; otherwise it is null.
   */
  #observed = false;
  /**
   * The graph may hold mutations that are not durable and could not be undone: every command
   * is answered ERROR until the store has rebuilt it from the data dir. See #rollBack.
   */
  #suspect = false;
  #lock: DirLock | null = null;
  #writer: LogWriter | null = null;
  #health: StoreHealth = { recovered: false, writable: false, detail: 'not opened yet' };
  #snapshotSeq = 0;
  /** Sealed segments not yet folded into a snapshot: seq → bytes. */
  readonly #sealed = new Map<number, number>();
  #compaction: Promise<void> | null = null;
  /** The newest segment the running compaction folds; 0 when none runs. */
  #compacting = 0;
  /** Aborted when the running compaction is abandoned (stuck past the deadline, or closing). */
  #compactionAbort: AbortController | null = null;
  /**
   * Settles when the running compaction does, or when it is abandoned: what the writer's
   * rotation, a backup and a reopen wait for. A compaction stuck in the file system must not
   * hold them (issue 11): it no longer changes anything in the data dir's state when it ends.
   */
  #compactionWait: Promise<void> | null = null;
  #releaseCompactionWait: (() => void) | null = null;
  #backpressureWaits = 0;
  /** Backups streaming now: while any is, no compaction starts (it would delete their files). */
  #backups = 0;
  #reopening: Promise<void> | null = null;
  /**
   * The live segment was deleted or cut under the store (#checkSegment): acknowledged records
   * are gone from the data dir. Mutations are refused and the dir is not reopened, since a
   * reopen would serve without them (a cut one even passes for a torn tail); only an operator
   * can decide what to restore.
   */
  #lost: PkgIndexError<'E_STORAGE_DATA_LOSS'> | null = null;
  #checkingSegment = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #wakeRetry: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  readonly #recoverOptions: RecoverOptions;
  /** Control record writes, one at a time, in order; each writes the state at its turn. */
  #controlWrites: Promise<void> = Promise.resolve();
  #controlGeneration = 0;
  /** Runs long cycle checks across turns; appends what they change to the log. */
  readonly #sliced: SlicedGraph;

  constructor(options: DiskStoreOptions) {
    this.#sliced = new SlicedGraph(
      () => this.#graph,
      {
        // A store that rolled back after a failure answers nothing until it has reopened. Only
        // mutations come here: execute() answers QUERYs itself.
        refuse: () => this.#suspect || !this.#health.writable,
        // `dropped` undoes it: the graph hands back the list it took (see #adopt), no copy here.
        changed: (command, dropped) => {
          const writer = this.#writer!;
          this.#undo.trim(writer.syncedRecords);
          this.#undo.push(command.name, dropped);
          if (command.verb === Verb.INDEX) writer.appendIndex(command.name, command.deps, command.keys?.[0]);
          else writer.appendRemove(command.name, command.keys?.[0]);
        },
        durable: () => this.#writer?.barrier() ?? null,
        batchDurable: () => (this.#observed ? (this.#writer?.barrier() ?? null) : null),
      },
      options.slices,
    );
    this.reader = new GraphReader(() => this.#graph, { sliceMs: options.slices?.sliceMs });
    this.id = options.id ?? nextStoreId('disk');
    this.#events = new StoreEventPublisher(this.id);
    this.#dir = options.dataDir;
    this.#io = new IoTracker((op, durationMs, failed) => {
      this.#events.io({ op: op.op, path: op.path, durationMs, stuck: false, failed });
    });
    this.#compactionIo = new IoTracker((op, durationMs, failed) => {
      this.#events.io({ op: op.op, path: op.path, durationMs, stuck: false, failed, compaction: true });
    });
    this.#fs = new InflightFs(options.fs ?? new NodeFs(), this.#io);
    this.#storageTimeoutMs = options.storageTimeoutMs ?? 30_000;
    this.#syncMode = options.syncMode ?? 'durable';
    this.#syncIntervalMs = options.syncIntervalMs ?? 100;
    this.#compactAfterBytes = Math.min(options.compactAfterBytes ?? 64 * 1024 * 1024, MAX_SEGMENT_BYTES);
    this.#preallocateBytes = Math.max(0, options.preallocateBytes ?? PREALLOCATE_BYTES);
    const own =
      options.compactor === undefined
        ? workerCompactor({ idleMs: options.compactionKeepMs, nice: options.compactionNice })
        : null;
    this.#ownCompactor = own;
    this.#compactor = options.compactor ?? (own as WorkerCompactor);
    this.#retryMinMs = options.retryMinMs ?? 50;
    this.#retryMaxMs = options.retryMaxMs ?? 5000;
    this.#recoverOptions = {
      repair: true,
      acceptDataLoss: options.acceptDataLoss ?? false,
      createIndex: options.createIndex ?? 'missing',
      ...(options.readBufferBytes === undefined ? {} : { readBufferBytes: options.readBufferBytes }),
    };
  }

  async open(): Promise<void> {
    const createIndex = this.#recoverOptions.createIndex ?? 'missing';
    try {
      // A dir that does not exist is made here with a new index in it, or refused; one that
      // exists is recovered, and refused if it holds no index (recover.ts, noIndex).
      if (createIndex === 'never') {
        if (!(await dirExists(this.#fs, this.#dir))) throw missingDirError(this.#dir);
      } else await createMissingDir(this.#fs, this.#dir);
      this.#lock = await DirLock.acquire(this.#dir, { announce: false });
    } catch (err) {
      if (isStorageError(err)) throw err;
      throw (
        accessError(this.#dir, err) ??
        createError(
          'E_STORAGE_IO',
          `cannot use data dir ${this.#dir} (${errorText(err)}); pass --data-dir with a directory this user can write, or --storage memory`,
          { cause: err },
        )
      );
    }
    let recovered: Recovered;
    const leftover = this.#lock.leftoverPid;
    try {
      recovered = await recover(this.#fs, this.#dir, {
        ...this.#recoverOptions,
        traces:
          leftover === null
            ? []
            : [`the LOCK file left by pid ${leftover} (which ended without a clean stop)`],
      });
    } catch (err) {
      this.#lock.release();
      this.#lock = null;
      if (isPkgIndexError(err)) throw err;
      throw (
        accessError(this.#dir, err) ??
        createError(
          'E_STORAGE_IO',
          `cannot read data dir ${this.#dir} (${errorText(err)}); check that this user can read every file in it`,
          { cause: err },
        )
      );
    }
    this.#adopt(recovered);
    this.#startWatchdog();
    try {
      this.#writer = await this.#startWriter(recovered.nextSeq);
      await this.#saveControl(false);
      // Only now, with an index in the dir, does a pid file left behind mean one was there.
      this.#lock.announce();
    } catch (err) {
      this.#lock.announce();
      // Permissions do not come back by themselves: refuse to start, saying what to change.
      const denied = accessError(this.#dir, err);
      if (denied !== null) {
        await this.#writer?.release();
        this.#writer = null;
        this.#lock.release();
        this.#lock = null;
        throw denied;
      }
      // The index is recovered and can serve queries; a full disk or an I/O error only stops
      // mutations, until the retry loop manages to start a segment.
      this.#onFailure(err);
      return;
    }
    this.#setHealth({ recovered: true, writable: true });
    this.#maybeCompact();
  }

  /**
   * A QUERY is answered from the graph at once, as the memory store does: the sliced graph
   * answers it from the same graph anyway (it keeps the previous state while a check is
   * suspended), and the only thing that refuses a QUERY here is a suspect graph, so it needs
   * neither that layer nor its refuse hook (a closure call on 80 % of lines in a usual mix).
   *
   * A QUERY observes only whether its package is indexed. When no record waiting for its
   * group commit changed that package, memory and the log agree on it, and the reply need
   * not wait for the commit (see unacked-names.ts): on a strict load, a QUERY of a package
   * nobody is changing no longer waits for the disk while other clients write. Any mutation,
   * whatever its outcome, observes more (the dependencies, the dependents), so its batch
   * waits as before.
   */
  execute(command: Command): Reply | Suspended {
    if (command.verb === Verb.QUERY) {
      if (this.#suspect) return Reply.ERROR;
      if (!this.#observed)
        this.#observed = this.#writer?.unacknowledged(command.name, command.keys?.[0]) === true;
      return this.#graph.has(command.name, command.keys?.[0]) ? Reply.OK : Reply.FAIL;
    }
    // After it: while it runs, `#observed` says what the batch's earlier commands observed
    // (the sliced graph reads it when this command is suspended, see batchDurable).
    const reply = this.#sliced.execute(command);
    this.#observed = true;
    return reply;
  }

  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type
  barrier(): Promise<readonly Reply[] | void> | null {
    const observed = this.#observed;
    this.#observed = false;
    return this.#sliced.barrier() ?? (observed ? (this.#writer?.barrier() ?? null) : null);
  }

  /**
   * Settles once everything executed so far is durable, or null when it is: `barrier()` waits
   * only for what its batch observed. For tools that measure a group commit per turn.
   */
  whenDurable(): Promise<void> | null {
    return this.#writer?.barrier() ?? null;
  }

  health(): StoreHealth {
    const oldest = [this.#io.oldest(), this.#compactionIo.oldest()].filter((op) => op !== null);
    if (oldest.length === 0) return this.#health;
    const startedAt = Math.min(...oldest.map((op) => op.startedAt));
    return { ...this.#health, inflightIoMs: performance.now() - startedAt };
  }

  stats(): GraphStats {
    return this.#graph.stats();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Not published: a shutdown is no storage failure for the subscribers to alert on.
    this.#health = { recovered: this.#health.recovered, writable: false, detail: 'closed' };
    this.#sliced.close(
      createError('E_STORE_CLOSED', `the store of ${this.#dir} was closed before this command was decided`),
    );
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
    // A running compaction is waited for, under the watchdog still: one stuck in the file
    // system past the deadline is abandoned (it starts nothing more, and changes nothing when
    // it ends; see #compact), so that a hung compaction does not hang the shutdown.
    await this.#compactionWait;
    await this.#ownCompactor?.close();
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    try {
      await this.#reopening;
      if (this.#writer !== null && !this.#writer.failed) {
        await this.#writer.close();
        // A clean stop records the whole last segment: a later truncation of it is data loss.
        // Best effort: if it fails, the record before it (the segment's header) is still true.
        await this.#saveControl(true).catch(() => undefined);
      }
      // A segment deleted or cut under the store: not cut back (that would write zeros where
      // the records were, which recovery would take for the clean end of the log).
      else if (this.#writer !== null && this.#lost !== null) await this.#writer.release();
      // A failed log not yet abandoned by #reopen: cut it back now, best effort, and release it.
      else if (this.#writer !== null) {
        const writer = this.#writer;
        await writer.abandon().catch(() => writer.release());
      }
    } finally {
      this.#lock?.release();
      this.#lock = null;
    }
  }

  /**
   * Checks the storage operations in flight a few times per deadline. One past it ends the
   * current log as a failure would, at once: the replies it holds are answered ERROR, the graph
   * is rolled back, /readyz turns not ready; the reopen then waits for the operation to
   * complete, cuts the log back to its last good sync (whatever the late operation did), and
   * starts a new segment. See docs/adr/0015-rollback-and-io-deadline.md.
   */
  #startWatchdog(): void {
    const timeout = this.#storageTimeoutMs;
    this.#watchdog = setInterval(
      () => {
        const now = performance.now();
        this.#checkCompactionIo(now);
        void this.#checkSegment();
        for (const op of this.#io.inflight()) {
          const age = now - op.startedAt;
          // In start order: the rest are younger.
          if (age < timeout) break;
          if (op.stuck) continue;
          op.stuck = true;
          this.#events.io({ op: op.op, path: op.path, durationMs: age, stuck: true, failed: false });
          const err = createError(
            'E_STORAGE_IO',
            `${op.op} of ${op.path} has not completed after ${Math.round(age)} ms (--storage-timeout-ms ${timeout}); mutations are answered ERROR until it completes and the store has reopened its data dir`,
          );
          if (this.#writer?.expire(err) === true) continue;
          // No log to end (already failed, or being reopened): say why it is stuck.
          if (!this.#health.writable)
            this.#setHealth({ recovered: true, writable: false, detail: err.message });
        }
      },
      Math.max(5, Math.min(timeout / 4, 1000)),
    );
    // Watching alone must not keep a process alive.
    this.#watchdog.unref();
  }

  /**
   * A compaction operation past the deadline: the compaction is abandoned (it starts no further
   * operation, and its result is ignored), reported (a `store.io` event: log line and
   * `pkgindex_store_io_stuck_total`; the in-flight age gauge; health detail), and the writer,
   * backups and reopens stop waiting for it. Writes go on: the log only grows past its bound
   * until a compaction succeeds again. A new compaction starts only once this one has ended
   * (its thread is blocked in the kernel until then), at the next rotation.
   */
  #checkCompactionIo(now: number): void {
    const timeout = this.#storageTimeoutMs;
    let stuck: InflightOp | null = null;
    for (const op of this.#compactionIo.inflight()) {
      if (now - op.startedAt < timeout) break;
      if (op.stuck) continue;
      op.stuck = true;
      stuck = op;
      this.#events.io({
        op: op.op,
        path: op.path,
        durationMs: now - op.startedAt,
        stuck: true,
        failed: false,
        compaction: true,
      });
    }
    if (stuck === null || this.#compactionAbort?.signal.aborted !== false) return;
    const detail = `compaction of segments up to ${this.#compacting} abandoned: ${stuck.op} of ${stuck.path} has not completed after ${Math.round(now - stuck.startedAt)} ms (--storage-timeout-ms ${timeout}); writes go on, the log grows until a compaction succeeds (retried at a rotation once that operation has returned)`;
    this.#compactionAbort.abort(detail);
    this.#releaseCompactionWait?.();
    if (this.#health.writable) this.#health = { ...this.#health, detail };
  }

  /**
   * Looks, once per watchdog tick (at most a second apart), whether the segment the writer
   * appends to was deleted or truncated by someone else: the writer's descriptor keeps
   * working either way, so the store would go on acknowledging records that a restart cannot
   * find. One fstat a tick, off the commit path: an fstat per group commit would add a trip
   * to the thread pool to each of the thousands of commits a second of the durable loads
   * (each one a pwrite on O_DSYNC), to shorten a window of a second for an operator's mistake.
   */
  async #checkSegment(): Promise<void> {
    const writer = this.#writer;
    if (writer === null || writer.failed || this.#checkingSegment || this.#lost !== null) return;
    this.#checkingSegment = true;
    try {
      const lost = await writer.lostSegment();
      if (lost === null || writer !== this.#writer || this.#isClosing()) return;
      this.#lost = createError(
        'E_STORAGE_DATA_LOSS',
        `${lost}; mutations are answered ERROR and the data dir is not reopened, since the store would serve without those records. Stop the server, find what deleted or cut the file, check the dir with \`pkgindex fsck --data-dir ${this.#dir}\`, and restore it from a backup (or start with --accept-data-loss to serve what is left)`,
      );
      writer.expire(this.#lost);
    } catch {
      // An fstat that fails: the commits' own writes report a failing disk.
    } finally {
      this.#checkingSegment = false;
    }
  }

  #adopt(recovered: Recovered): void {
    this.#graph = recovered.graph;
    // What each change drops is what the undo log keeps to take it back: a list a replacement
    // rewrites in place is copied into the log's own ring (DroppedSink), not a new array.
    this.#graph.keepDropped(this.#undo);
    this.#suspect = false;
    this.#undo.reset();
    this.#snapshotSeq = recovered.snapshotSeq;
    this.#sealed.clear();
    for (const { seq, bytes } of recovered.segments) this.#sealed.set(seq, bytes);
    this.#events.recovery({
      durationMs: recovered.durationMs,
      packages: recovered.graph.size,
      records: recovered.records,
      truncatedBytes: recovered.truncatedBytes,
      dataLoss: recovered.dataLoss,
    });
  }

  #startWriter(seq: number): Promise<LogWriter> {
    return LogWriter.create(
      {
        fs: this.#fs,
        dir: this.#dir,
        syncMode: this.#syncMode,
        syncIntervalMs: this.#syncIntervalMs,
        rotateAfterBytes: this.#compactAfterBytes,
        preallocateBytes: this.#preallocateBytes,
        onFailure: (err) => {
          this.#onFailure(err);
        },
        onRotated: async (sealedSeq, bytes) => {
          this.#sealed.set(sealedSeq, bytes);
          await this.#saveControl(false);
          this.#maybeCompact();
        },
        beforeRotation: () => this.#rotationGate(),
        events: this.#events,
      },
      seq,
    );
  }

  #onFailure(err: unknown): void {
    this.#rollBack();
    if (this.#lost !== null) {
      this.#setHealth({ recovered: true, writable: false, detail: this.#lost.message });
      return;
    }
    const detail = `cannot write to data dir ${this.#dir} (${errorText(err)}); mutations are answered ERROR until the store has reopened it`;
    this.#setHealth({
      recovered: true,
      writable: false,
      detail: isStorageError(err) ? err.message : detail,
    });
    this.#reopening ??= this.#reopen().finally(() => {
      this.#reopening = null;
    });
  }

  /**
   * Rebuilds from what is durable and starts a new segment, retrying with backoff until it
   * works (space returns, the device recovers) or the store is closed.
   */
  async #reopen(): Promise<void> {
    let delay = this.#retryMinMs;
    let recovered: Recovered | null = null;
    let attempts = 0;
    for (;;) {
      if (this.#isClosing()) return;
      try {
        // Compaction deletes temporary files and segments; let it finish first (or be abandoned).
        await this.#compactionWait;
        const writer = this.#writer;
        if (writer !== null && writer.failed) {
          try {
            await writer.abandon();
          } finally {
            // Cut back or not, the log now keeps less than the failure left it: match it.
            this.#rollBack();
          }
          this.#writer = null;
        }
        if (recovered === null) {
          recovered = await recover(this.#fs, this.#dir, this.#recoverOptions);
          this.#adopt(recovered);
        }
        // A writer that did not fail is one whose control record could not be saved: it has
        // logged nothing (mutations were refused since), so it is kept and only the record
        // retried. Starting another would leak its descriptor and leave a segment per retry.
        this.#writer ??= await this.#startWriter(recovered.nextSeq);
        await this.#saveControl(false);
        this.#undo.reset();
        if (this.#isClosing()) return;
        this.#setHealth({ recovered: true, writable: true });
        this.#maybeCompact();
        return;
      } catch (err) {
        if (this.#isClosing()) return;
        attempts++;
        this.#setHealth(
          {
            recovered: true,
            writable: false,
            detail: `reopening data dir ${this.#dir} failed (${errorText(err)}); retrying in ${delay} ms`,
          },
          attempts,
        );
      }
      await new Promise<void>((resolve) => {
        this.#wakeRetry = resolve;
        this.#retryTimer = setTimeout(resolve, delay);
        // Retrying alone must not keep a process alive (the server's listener does that).
        this.#retryTimer.unref();
      });
      this.#retryTimer = null;
      this.#wakeRetry = null;
      delay = Math.min(delay * 2, this.#retryMaxMs);
    }
  }

  /**
   * Takes back, synchronously, every mutation the failed log does not keep, so that the next
   * reply (on any connection) already answers from what a restart would recover.
   */
  #rollBack(): void {
    const writer = this.#writer;
    if (writer === null || !writer.failed || this.#suspect) return;
    try {
      this.#undo.rollback(this.#graph, writer.keptRecords);
    } catch {
      // The graph refuses the undo: a cycle check suspended across turns (sliced-graph.ts)
      // holds it busy (E_GRAPH_BUSY) until decided, or the undo rules were broken. The reopen
      // rebuilds it from the data dir; until then no reply comes from it.
      this.#suspect = true;
    }
  }

  #isClosing(): boolean {
    return this.#closing !== null;
  }

  /** Holds rotation back while a compaction runs and enough sealed segments wait behind it. */
  #rotationGate(): Promise<void> | null {
    const compaction = this.#compactionWait;
    if (compaction === null || this.#compactionAbort?.signal.aborted === true) return null;
    const waiting = [...this.#sealed.keys()].filter((seq) => seq > this.#compacting).length;
    if (waiting < MAX_SEALED_WHILE_COMPACTING) return null;
    this.#backpressureWaits++;
    return compaction;
  }

  /** Rotations that waited for a compaction (for tests and the storage benchmark). */
  get backpressureWaits(): number {
    return this.#backpressureWaits;
  }

  /**
   * An online backup: the durable state at this moment (the snapshot, the sealed segments, and
   * the current segment up to its last sync; in relaxed mode up to its last write, which is
   * what relaxed mode acknowledges), streamed while the store keeps serving. Every file in the
   * cut is immutable up to its cut length until the backup is released: appends go past it, a
   * failure in durable mode only cuts the log back to a later sync, and compaction, which
   * deletes files, does not start meanwhile (a running one is waited for before the cut). In
   * relaxed mode a failed sync can cut the current segment below the cut: the stream then fails
   * (E_STORAGE_IO) rather than hold what the log no longer does, and the backup is taken again.
   *
   * The cut's files are opened before this returns and read through those descriptors, so no
   * unlink or rename in the dir takes one from the backup. One can happen meanwhile: a
   * compaction abandoned in the rename of its snapshot (#checkCompactionIo) does not wait for
   * that rename, which may land later; the snapshot it leaves is whole but not the store's, and
   * a reopen's recovery adopts it and deletes the segments it covers, which the cut names.
   */
  async startBackup(): Promise<Backup> {
    const unavailable = (why: string) =>
      createError('E_BACKUP_UNAVAILABLE', `cannot back up data dir ${this.#dir}: ${why}`);
    if (this.#closing !== null) throw unavailable('the server is shutting down');
    this.#backups++;
    let released = false;
    /** The cut's files, open until the backup is released. */
    const opened: StorageFile[] = [];
    const release = (): void => {
      if (released) return;
      released = true;
      this.#backups--;
      for (const file of opened) void file.close().catch(() => undefined);
      this.#maybeCompact();
    };
    try {
      await this.#compactionWait;
      const writer = this.#writer;
      if (writer === null || writer.failed || !this.#health.writable)
        throw unavailable(
          `the store is not writable (${this.#health.detail ?? 'reopening'}); retry once /readyz is ready`,
        );
      // The whole cut is read in this turn, before the await below: the writer goes on, and
      // may rotate, meanwhile (a control record naming the next segment as current, with the
      // bytes of this one, restored as E_STORAGE_DATA_LOSS).
      const snapshotSeq = this.#snapshotSeq;
      const cut: ControlRecord = {
        snapshotSeq,
        sealed: [...this.#sealed]
          .filter(([seq]) => seq > snapshotSeq && seq < writer.seq)
          .sort(([a], [b]) => a - b)
          .map(([seq, bytes]) => ({ seq, bytes })),
        currentSeq: writer.seq,
        currentBytes: this.#syncMode === 'durable' ? writer.syncedBytes : writer.writtenBytes,
        clean: true,
      };
      const generation = this.#controlGeneration;
      const files: ArchiveFile[] = [];
      /** Opens a file of the cut; `length` null: all of it (the snapshot, whole by design). */
      const add = async (path: string, length: number | null): Promise<void> => {
        const file = await this.#fs.open(path, 'read');
        opened.push(file);
        files.push({ name: basename(path), path, length: length ?? (await file.size()), file });
      };
      if (snapshotSeq > 0) await add(snapshotPath(this.#dir, snapshotSeq), null);
      for (const { seq, bytes } of cut.sealed) await add(segmentPath(this.#dir, seq), bytes);
      await add(segmentPath(this.#dir, cut.currentSeq), cut.currentBytes);
      // The control record of the cut, last: a restored dir is checked against it as the
      // original is against its own (the live CONTROL describes the live log, not the cut).
      const data = encodeControl(cut, generation);
      files.push({ name: CONTROL_FILE, path: controlPath(this.#dir), length: data.length, data });
      const fs = this.#fs;
      async function* stream(): AsyncGenerator<Uint8Array> {
        try {
          yield* writeArchive(fs, files);
        } finally {
          release();
        }
      }
      return {
        files: files.length - 1,
        bytes: files.reduce((sum, f) => sum + (f.data === undefined ? f.length : 0), 0),
        stream: stream(),
        release,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  #maybeCompact(): void {
    if (this.#compaction !== null || this.#closing !== null || this.#sealed.size === 0) return;
    if (this.#backups > 0) return;
    const current = this.#writer?.seq ?? Infinity;
    const sealed = [...this.#sealed.keys()].filter((seq) => seq < current).sort((a, b) => a - b);
    let bytes = 0;
    for (const seq of sealed) bytes += this.#sealed.get(seq)!;
    if (sealed.length === 0 || (bytes < this.#compactAfterBytes && sealed.length < MAX_SEALED_SEGMENTS))
      return;
    this.#compacting = sealed.at(-1)!;
    const abort = new AbortController();
    this.#compactionAbort = abort;
    this.#compactionWait = new Promise<void>((resolve) => (this.#releaseCompactionWait = resolve));
    this.#compaction = this.#compact(sealed[0]!, sealed.at(-1)!, abort.signal).then((done) => {
      this.#releaseCompactionWait?.();
      this.#compaction = null;
      this.#compactionWait = null;
      this.#releaseCompactionWait = null;
      this.#compactionAbort = null;
      this.#compacting = 0;
      // Segments sealed while it ran may already be due: under sustained writes they are. Not
      // while reopening (that recovery deletes the files a compaction works on), nor after a
      // failure (the next rotation retries, as before).
      if (done && this.#reopening === null) this.#maybeCompact();
    });
  }

  /** True when the snapshot replaced the segments. Never rejects. */
  async #compact(fromSeq: number, toSeq: number, signal: AbortSignal): Promise<boolean> {
    const started = performance.now();
    const oldSnapshot = this.#snapshotSeq;
    try {
      const { snapshotBytes, thread } = await this.#compactor(
        { dir: this.#dir, snapshotSeq: oldSnapshot, fromSeq, toSeq },
        { io: this.#compactionIo, signal },
      );
      // Abandoned (stuck past the deadline, or closing): the store has moved on without it (a
      // reopen may have recovered the dir meanwhile, the lock may be released). Its snapshot, if
      // it got that far, is whole and consistent; the next compaction or recovery supersedes it.
      if (signal.aborted) return false;
      // The new snapshot is durable (synced, renamed, directory synced): drop what it replaces.
      this.#snapshotSeq = toSeq;
      for (let seq = fromSeq; seq <= toSeq; seq++) this.#sealed.delete(seq);
      // Recorded before the files it replaces go: a crash between leaves both, which is fine.
      await this.#saveControl(false);
      if (oldSnapshot > 0) await this.#fs.unlink(snapshotPath(this.#dir, oldSnapshot));
      for (let seq = fromSeq; seq <= toSeq; seq++) await this.#fs.unlink(segmentPath(this.#dir, seq));
      await this.#fs.syncDir(this.#dir);
      if (this.#health.writable && this.#health.detail !== undefined)
        this.#health = { recovered: true, writable: true };
      this.#events.compaction({
        durationMs: performance.now() - started,
        snapshotBytes,
        segmentsDropped: toSeq - fromSeq + 1,
        ...(thread === undefined ? {} : { threadNice: thread.nice, priorityError: thread.priorityError }),
      });
      return true;
    } catch (err) {
      // The log stays complete without the snapshot; the next rotation tries again. Files left
      // over are deleted by the next recovery.
      // Abandoned: the watchdog has said why (health detail, event); it ends no differently.
      if (signal.aborted) return false;
      const detail = `compaction of segments ${fromSeq}..${toSeq} failed (${errorText(err)}); retried at the next rotation`;
      // Still writable, so no state event (subscribers read those as writability changes) but
      // an event of its own: a compaction that keeps failing lets the log grow until the disk
      // is full, which operators must hear of before then (log line, counter, alert). The
      // reason also shows in health() until a compaction succeeds.
      this.#events.compactionFailed({
        fromSeq,
        toSeq,
        code: isPkgIndexError(err) ? err.code : 'E_STORAGE_IO',
        errno: systemCode(err),
        detail,
        sealedSegments: this.#sealed.size,
      });
      if (isPkgIndexError(err, 'E_STORAGE_CORRUPT'))
        this.#setHealth({ recovered: true, writable: false, detail: err.message });
      else if (this.#health.writable) this.#health = { ...this.#health, detail };
      return false;
    }
  }

  /**
   * Writes the control record (control-file.ts) with the state of now: snapshot, sealed
   * segments and the current one. `clean`: the writer is closed and its segment whole.
   */
  #saveControl(clean: boolean): Promise<void> {
    const write = this.#controlWrites.then(() => {
      const writer = this.#writer;
      const sealed = [...this.#sealed]
        .filter(([seq]) => seq > this.#snapshotSeq && seq !== writer?.seq)
        .sort(([a], [b]) => a - b)
        .map(([seq, bytes]) => ({ seq, bytes }));
      return writeControl(
        this.#fs,
        this.#dir,
        {
          snapshotSeq: this.#snapshotSeq,
          sealed,
          currentSeq: writer?.seq ?? 0,
          currentBytes: writer === null ? 0 : clean ? writer.syncedBytes : HEADER_BYTES,
          clean,
        },
        ++this.#controlGeneration,
      );
    });
    // The next write goes ahead whatever became of this one.
    this.#controlWrites = write.catch(() => undefined);
    return write;
  }

  /**
   * Published as a change when writability changes, or when a store recovers unwritable (it
   * never became writable: as much a loss as one that stopped); becoming writable at open is
   * no change (subscribers count and log "writable again" only after a failure). A new reason
   * while still not writable is published as no change (`changed` false), with `attempt` when
   * it is a failed reopen: subscribers count transitions, and log retries sparingly.
   */
  #setHealth(health: StoreHealth, attempt?: number): void {
    const before = this.#health;
    this.#health = health;
    if (!before.recovered && health.writable) return;
    if (health.writable !== before.writable || (!before.recovered && health.recovered))
      this.#events.state(health.writable, health.detail);
    else if (!health.writable && health.detail !== before.detail)
      this.#events.state(false, health.detail, false, attempt);
  }
}

/**
 * E_STORAGE_ACCESS for a permission error (issue 11, defect 5), naming the path the system
 * refused and the user; null for any other error.
 */
export function accessError(dir: string, err: unknown): PkgIndexError<'E_STORAGE_ACCESS'> | null {
  const { code, path } = err as { code?: unknown; path?: unknown };
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return null;
  const where = typeof path === 'string' ? path : dir;
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  const who = uid === null ? 'this user' : `user ${userName() ?? uid} (uid ${uid})`;
  const fix =
    code === 'EROFS'
      ? 'mount it read-write'
      : `give ${who} read and write access to ${dir} and every file in it (for example: chown -R ${uid ?? '<user>'} ${dir} && chmod -R u+rwX ${dir})`;
  return createError(
    'E_STORAGE_ACCESS',
    `${where} is not accessible (${code}) to ${who}; ${fix}, or pass --data-dir with a directory this user owns`,
    { cause: err },
  );
}

/** The system error code (ENOSPC, EEXIST, ...) beneath `err`, following its causes; undefined when none. */
function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return undefined;
}

function userName(): string | null {
  try {
    return userInfo().username;
  } catch {
    // A uid without a passwd entry (containers): the uid alone names it.
    return null;
  }
}
