import { performance } from 'node:perf_hooks';
import { createError, isPkgIndexError, type PkgIndexError } from '../errors.js';
import type { StorageFile, StorageFs } from './fs/storage-fs.js';
import { encodeFileHeader, HEADER_BYTES, Magic } from './format/file-header.js';
import { RecordBuffer } from './format/record-buffer.js';
import { CommitGroup } from './group.js';
import { UnackedNames } from './unacked-names.js';
import { segmentPath } from './data-dir-files.js';
import type { StoreEventPublisher } from './store-events.js';

/** `durable`: acknowledge after fdatasync. `relaxed`: after write(2), fdatasync at most every N ms. */
export type SyncMode = 'durable' | 'relaxed';

export interface LogWriterOptions {
  readonly fs: StorageFs;
  readonly dir: string;
  readonly syncMode: SyncMode;
  readonly syncIntervalMs: number;
  /** Start a new segment once the current one holds this many bytes. */
  readonly rotateAfterBytes: number;
  /**
   * Durable mode: zero and sync this many bytes of the segment at a time ahead of its records
   * (0: never), so that a group commit overwrites blocks the file already has instead of
   * growing it (see `#zeroAhead`). Relaxed mode ignores it.
   */
  readonly preallocateBytes?: number;
  /** Writing failed; the writer accepts nothing more. Called once. */
  readonly onFailure: (err: PkgIndexError<'E_STORAGE_IO'>) => void;
  /**
   * A segment was sealed (synced and closed) and a new one started. Awaited before anything
   * is written to the new segment; a rejection fails the writer like an I/O error.
   */
  readonly onRotated: (sealedSeq: number, sealedBytes: number) => Promise<void> | void;
  /**
   * Asked before each rotation, once the full segment is synced: a promise delays the new
   * segment (and with it every write and acknowledgement) until it settles. This is how the
   * store holds writers back while compaction catches up.
   */
  readonly beforeRotation?: () => Promise<void> | null;
  /** Where each sync is reported. */
  readonly events: StoreEventPublisher;
}

/**
 * Appends records to the current log segment with group commit: records appended while a
 * write+sync is in progress are written together by the next one, so one fdatasync serves
 * every client that was waiting. After any write or sync error the writer is finished: a
 * failed fsync may have dropped dirty pages, so retrying it and acknowledging would lie.
 */
export class LogWriter {
  readonly #o: LogWriterOptions;
  #file: StorageFile;
  #seq: number;
  #writtenEnd: number;
  #syncedEnd: number;
  /**
   * The segment's bytes below this are on disk and synced, records or zeros (durable mode): a
   * group commit that ends at or below it overwrites zeroed blocks and grows nothing.
   */
  #zeroedEnd = HEADER_BYTES;
  /** The zeroing in flight, of the bytes from `#zeroingFrom` on; null when none. */
  #zeroing: Promise<void> | null = null;
  #zeroingFrom = 0;
  /**
   * Bytes to zero at a time; 0 once zeroing failed in this segment (the log then grows as it
   * did before; the next segment tries again).
   */
  #preallocate = 0;
  #open = new RecordBuffer();
  #spare = new RecordBuffer();
  #openGroup = new CommitGroup();
  #inflight: CommitGroup | null = null;
  #unsyncedRecords = 0;
  /** Records appended by this writer so far that were written, synced, and kept after a failure. */
  #writtenRecords = 0;
  #syncedRecords = 0;
  /** Records appended so far, acknowledged or not (after a failure, those dropped included). */
  #appendedRecords = 0;
  /** The names those records changed, with the last record of each (see `unacknowledged`). */
  readonly #unacked = new UnackedNames();
  #keptRecords = 0;
  #pumping = false;
  #syncDue = false;
  #syncTimer: NodeJS.Timeout | null = null;
  #failure: PkgIndexError<'E_STORAGE_IO'> | null = null;
  /** Offset to cut the segment back to after a failure: the end of what is known good. */
  #keep = 0;
  #idle: (() => void)[] = [];
  /** What the pump is doing, for the failure message and for what to keep after it. */
  #phase: 'write' | 'write and sync' | 'sync' | 'rotation' = 'write';

  private constructor(o: LogWriterOptions, segment: NewSegment, seq: number) {
    this.#o = o;
    this.#file = segment.file;
    this.#seq = seq;
    this.#writtenEnd = this.#syncedEnd = HEADER_BYTES;
    this.#zeroFrom(segment);
  }

  /** Creates segment `seq` durably (file, header, directory entry) and writes to it. */
  static async create(o: LogWriterOptions, seq: number): Promise<LogWriter> {
    return new LogWriter(o, await createSegment(o.fs, o.dir, seq, firstZeros(o)), seq);
  }

  get seq(): number {
    return this.#seq;
  }

  get failed(): boolean {
    return this.#failure !== null;
  }

  /** Bytes of the current segment on stable storage, and written to it (relaxed mode acknowledges those). */
  get syncedBytes(): number {
    return this.#syncedEnd;
  }

  get writtenBytes(): number {
    return this.#writtenEnd;
  }

  /** Records (numbered from 0 in append order, across segments) now on stable storage. */
  get syncedRecords(): number {
    return this.#syncedRecords;
  }

  /**
   * Whether a record that changed `name` may wait for its group commit (see unacked-names.ts:
   * true whenever one does). A group is acknowledged once written and synced in durable mode,
   * written in relaxed mode. `key`: the name's key when the caller has it.
   */
  unacknowledged(name: string, key?: number): boolean {
    const acknowledged = this.#writtenRecords;
    return acknowledged < this.#appendedRecords && this.#unacked.has(name, key, acknowledged);
  }

  /**
   * After a failure: how many of the records appended survive in the log, those it cuts back
   * to (see abandon()). Every record from this number on is as if never appended.
   */
  get keptRecords(): number {
    return this.#keptRecords;
  }

  /**
   * Whether the segment being written is still the data dir's, as written: not deleted (it
   * has a name) and not cut below what was acknowledged. Null when it is, or when the writer
   * rotated or failed meanwhile; else what happened to it. One fstat(2).
   */
  async lostSegment(): Promise<string | null> {
    const file = this.#file;
    // Taken before the fstat: a commit completing meanwhile only makes the file longer.
    const acknowledged = this.#o.syncMode === 'durable' ? this.#syncedEnd : this.#writtenEnd;
    if (this.#failure !== null) return null;
    const { size, links } = await file.stat();
    if (file !== this.#file || this.failed) return null;
    if (links === 0)
      return `log segment ${file.path} was deleted while the server was writing it (with ${acknowledged} bytes of acknowledged records)`;
    if (size < acknowledged)
      return `log segment ${file.path} was truncated to ${size} bytes while the server was writing it, below the ${acknowledged} bytes of records it had acknowledged`;
    return null;
  }

  /** `key`: the name's key when the caller has it (a parsed command's `keys[0]`), else computed. */
  appendIndex(name: string, deps: readonly string[], key?: number): void {
    this.#open.appendIndex(name, deps);
    this.#unacked.add(name, key, this.#appendedRecords++);
    this.#kick();
  }

  appendRemove(name: string, key?: number): void {
    this.#open.appendRemove(name);
    this.#unacked.add(name, key, this.#appendedRecords++);
    this.#kick();
  }

  /** Null when every appended record is acknowledged-durable; else a promise for that. */
  barrier(): Promise<void> | null {
    if (this.#open.count > 0) return this.#openGroup.wait();
    if (this.#inflight !== null) return this.#inflight.wait();
    return null;
  }

  /**
   * Fails the writer now, even while its write, sync or rotation is still in flight (the
   * store's deadline for a hung disk): held replies become ERROR at once, and whatever the
   * operation does when it returns is discarded, since `cause` already told the clients it
   * failed. abandon() then waits for it and cuts the log back to what was synced before it.
   * Returns false when the writer had already failed.
   */
  expire(cause: Error): boolean {
    if (this.#failure !== null) return false;
    this.#fail(cause);
    return true;
  }

  /**
   * Writes and syncs everything appended, then closes the file. If that fails, the log is cut
   * back to its last good sync as after any failure (`abandon`; if the cut fails too, the file
   * is closed as it is), and the failure thrown. Recovery cannot tell a failed sync's records
   * from synced ones: written, they are read back whole from the page cache, so only the cut
   * keeps what was answered ERROR from the next start. (The store's reopen, which cuts back a
   * log that failed while serving, does not run once the store is closing.)
   */
  async close(): Promise<void> {
    if (this.#failure === null) {
      this.#syncDue = true;
      this.#kick(true);
      await this.#whenIdle();
    }
    this.#clearTimer();
    if (this.#failure !== null) {
      await this.abandon().catch(() => this.release());
      throw this.#failure;
    }
    await this.#trimZeros();
    await this.#file.close();
  }

  /**
   * After a failure: cuts the segment back to what is known good and makes that durable, so
   * it can be sealed behind a new segment without leaving damage in the middle of the log.
   * Throws if that fails; the caller retries.
   */
  async abandon(): Promise<void> {
    await this.#whenIdle();
    // A zeroing still in flight could grow the file again after the cut below.
    await this.#zeroing;
    this.#clearTimer();
    try {
      await this.#file.truncate(this.#keep);
      await this.#file.datasync();
    } catch (err) {
      // Unsynced bytes cannot be trusted now; next time keep only what was synced (never more
      // than before: a sync that completed after expire() must not bring records back).
      this.#keep = Math.min(this.#keep, this.#syncedEnd);
      this.#keptRecords = Math.min(this.#keptRecords, this.#syncedRecords);
      throw err;
    }
    this.#syncedEnd = this.#writtenEnd = this.#keep;
    await this.#file.close().catch(() => undefined);
  }

  /** Closes the file whatever its state: for shutdown after abandon() failed. */
  async release(): Promise<void> {
    this.#clearTimer();
    await this.#zeroing;
    await this.#file.close().catch(() => undefined);
  }

  /**
   * Called for every record appended, so it must allocate nothing when the pump already runs:
   * an arrow function here (`setImmediate(() => …)`) made V8 allocate a context for `this` on
   * every call, before the early return: 21 of the 82 bytes a reply the durable mutation load
   * allocated (`measure allocations`, docs/benchmarks.md stop 42).
   */
  #kick(now = false): void {
    if (this.#pumping || this.#failure !== null) return;
    this.#pumping = true;
    // Waiting for the poll phase to end lets every connection that has data this turn join.
    if (now) void this.#pump();
    else setImmediate(this.#pumpSoon);
  }

  readonly #pumpSoon = (): void => void this.#pump();

  async #pump(): Promise<void> {
    try {
      for (;;) {
        // Rotation comes first, whatever is pending: under sustained writes the writer is never
        // idle, and a segment that only rotates when idle grows without bound (issue 11).
        if (this.#writtenEnd >= this.#o.rotateAfterBytes) await this.#rotate();
        else if (this.#open.count > 0) await this.#writeGroup();
        else if (this.#syncDue && this.#syncedEnd < this.#writtenEnd) await this.#sync();
        else break;
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#pumping = false;
      for (const wake of this.#idle.splice(0)) wake();
    }
  }

  async #writeGroup(): Promise<void> {
    const records = this.#open;
    const group = this.#openGroup;
    this.#open = this.#spare;
    this.#openGroup = new CommitGroup();
    this.#inflight = group;
    const bytes = records.seal(this.#syncedEnd);
    const count = records.count;
    // Never written where zeros are being written: they would land on the records.
    if (this.#zeroing !== null && this.#writtenEnd + bytes.length > this.#zeroingFrom) {
      await this.#zeroing;
      this.#throwIfExpired();
    }
    if (this.#o.syncMode === 'durable') await this.#writeDurably(bytes, count);
    else await this.#write(bytes, count);
    records.reset();
    this.#spare = records;
    this.#inflight = null;
    group.resolve();
  }

  /**
   * Durable mode: the group's write and its sync as one operation (StorageFile.writeDurably,
   * one pwrite on an O_DSYNC descriptor), so nothing is ever written and not yet synced here.
   */
  async #writeDurably(bytes: Uint8Array, count: number): Promise<void> {
    const started = performance.now();
    this.#phase = 'write and sync';
    await this.#file.writeDurably(bytes, this.#writtenEnd);
    this.#throwIfExpired();
    this.#writtenEnd = this.#syncedEnd = this.#writtenEnd + bytes.length;
    this.#writtenRecords = this.#syncedRecords = this.#writtenRecords + count;
    this.#o.events.sync(performance.now() - started, count, bytes.length);
    if (this.#writtenEnd > this.#zeroedEnd) this.#zeroedEnd = this.#writtenEnd;
    this.#zeroAhead();
  }

  /**
   * Durable mode: once the records come within half a step of the zeroed bytes, zeroes the
   * next `preallocateBytes` of the segment (up to where it rotates) and syncs them, beside the
   * group commits. A commit that then overwrites them changes no file size, so its O_DSYNC
   * write needs no journal commit: on this host 124 µs instead of 203 µs, and 43 µs of CPU
   * instead of 65 (tools/probes/fdatasync.c, modes 4 and 3; docs/adr/0021). A group that would
   * reach the bytes being zeroed waits for them (`#writeGroup`). If zeroing fails, the log
   * grows with its records as before: the commits' own writes report a failing disk.
   */
  #zeroAhead(): void {
    const step = this.#preallocate;
    if (step === 0 || this.#zeroing !== null || this.#failure !== null) return;
    if (this.#zeroedEnd - this.#writtenEnd > step / 2) return;
    const from = this.#zeroedEnd;
    const to = Math.min(from + step, this.#o.rotateAfterBytes);
    if (to <= from) return;
    const file = this.#file;
    this.#zeroingFrom = from;
    this.#zeroing = (async () => {
      try {
        await writeZeros(file, from, to);
        await file.datasync();
        if (this.#file === file && to > this.#zeroedEnd) this.#zeroedEnd = to;
      } catch (err) {
        this.#preallocate = 0;
        this.#o.events.zeroingStopped(file.path, errorText(err));
      } finally {
        this.#zeroing = null;
      }
    })();
  }

  /**
   * The zeroing state of a new segment: its zeros, and the step to zero ahead with (none in
   * relaxed mode, or where the disk had no room for the first zeros, which is said). Zeroing
   * that failed in one segment is tried again in the next.
   */
  #zeroFrom(segment: NewSegment): void {
    this.#zeroedEnd = HEADER_BYTES + (segment.zeros ?? 0);
    const durable = this.#o.syncMode === 'durable' && segment.zeros !== null;
    this.#preallocate = durable ? (this.#o.preallocateBytes ?? 0) : 0;
    if (segment.noRoom !== null) this.#o.events.zeroingStopped(segment.file.path, segment.noRoom);
  }

  /**
   * At a clean close: cuts the zeros past the last record, so that a segment at rest ends
   * with its records. Best effort: recovery takes zeros past the records for what they are.
   */
  async #trimZeros(): Promise<void> {
    await this.#zeroing;
    if (this.#zeroedEnd <= this.#writtenEnd) return;
    try {
      await this.#file.truncate(this.#writtenEnd);
      await this.#file.datasync();
      this.#zeroedEnd = this.#writtenEnd;
    } catch {
      // Left as they are.
    }
  }

  /** Relaxed mode: written now, synced by the timer (or a rotation, or close). */
  async #write(bytes: Uint8Array, count: number): Promise<void> {
    this.#phase = 'write';
    await this.#file.write(bytes, this.#writtenEnd);
    this.#throwIfExpired();
    this.#writtenEnd += bytes.length;
    this.#unsyncedRecords += count;
    this.#writtenRecords += count;
    if (this.#syncTimer === null) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = null;
        this.#syncDue = true;
        this.#kick(true);
      }, this.#o.syncIntervalMs);
      this.#syncTimer.unref();
    }
  }

  async #sync(): Promise<void> {
    const started = performance.now();
    const bytes = this.#writtenEnd - this.#syncedEnd;
    this.#phase = 'sync';
    await this.#file.datasync();
    this.#throwIfExpired();
    this.#syncedEnd = this.#writtenEnd;
    this.#syncedRecords = this.#writtenRecords;
    this.#syncDue = false;
    this.#o.events.sync(performance.now() - started, this.#unsyncedRecords, bytes);
    this.#unsyncedRecords = 0;
  }

  async #rotate(): Promise<void> {
    if (this.#syncedEnd < this.#writtenEnd) await this.#sync();
    const gate = this.#o.beforeRotation?.() ?? null;
    if (gate !== null) await gate;
    this.#phase = 'rotation';
    // Zeros are never written past where the segment rotates, so a sealed segment ends with
    // its records; the zeroing in flight ends before the file is closed.
    await this.#zeroing;
    const next = await createSegment(this.#o.fs, this.#o.dir, this.#seq + 1, firstZeros(this.#o));
    if (this.#failure !== null) {
      // Expired meanwhile: the new segment holds only its header, which recovery accepts.
      await next.file.close().catch(() => undefined);
      throw this.#failure;
    }
    const sealed = this.#seq;
    const sealedBytes = this.#writtenEnd;
    await this.#file.close();
    this.#file = next.file;
    this.#seq++;
    this.#writtenEnd = this.#syncedEnd = HEADER_BYTES;
    this.#zeroFrom(next);
    await this.#o.onRotated(sealed, sealedBytes);
  }

  /** After an await in the pump: stop if expire() failed the writer meanwhile. */
  #throwIfExpired(): void {
    if (this.#failure !== null) throw this.#failure;
  }

  #fail(cause: unknown): void {
    // Once only: after expire(), the pump's own error (or the expiry it rethrows) lands here.
    if (this.#failure !== null) return;
    const phase = this.#phase;
    const failure = isPkgIndexError(cause, 'E_STORAGE_IO')
      ? cause
      : createError(
          'E_STORAGE_IO',
          `${phase} of log segment ${segmentPath(this.#o.dir, this.#seq)} failed (${errorText(cause)}); mutations are answered ERROR until the store has reopened its data dir`,
          { cause },
        );
    this.#failure = failure;
    // Bytes that were written but whose sync failed may be gone from the page cache.
    this.#keep = phase === 'write' ? this.#writtenEnd : this.#syncedEnd;
    this.#keptRecords = phase === 'write' ? this.#writtenRecords : this.#syncedRecords;
    this.#clearTimer();
    this.#inflight?.reject(failure);
    this.#openGroup.reject(failure);
    // Batches executed from now on hold no mutation of this log (the store answers them
    // ERROR itself): their barrier is null, so queries keep being answered.
    this.#inflight = null;
    this.#openGroup = new CommitGroup();
    this.#open.reset();
    this.#o.onFailure(failure);
  }

  #clearTimer(): void {
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
  }

  #whenIdle(): Promise<void> {
    if (!this.#pumping) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}

/** Zeros written after a new segment's header as it is created (see `#zeroAhead`). */
function firstZeros(o: LogWriterOptions): number {
  if (o.syncMode !== 'durable') return 0;
  return Math.max(0, Math.min(o.preallocateBytes ?? 0, o.rotateAfterBytes - HEADER_BYTES));
}

/**
 * Zeros are written from one shared buffer of this many, only ever read: a step's worth at once
 * would hold a megabyte of memory for zeros (the durable stress test's peak RssAnon went up by
 * 1.1-1.7 MiB with a whole step in one buffer).
 */
const ZERO_CHUNK_BYTES = 256 * 1024;
let zeroChunk: Buffer | null = null;

/** Writes zeros over `[from, to)` of `file`, a chunk at a time. */
async function writeZeros(file: StorageFile, from: number, to: number): Promise<void> {
  zeroChunk ??= Buffer.alloc(ZERO_CHUNK_BYTES);
  for (let at = from; at < to; at += ZERO_CHUNK_BYTES)
    await file.write(zeroChunk.subarray(0, Math.min(ZERO_CHUNK_BYTES, to - at)), at);
}

/** A new segment, and the zeros written after its header: null when none (none asked, or no room). */
interface NewSegment {
  readonly file: StorageFile;
  readonly zeros: number | null;
  /** Why the zeros asked for were not written (no room), or null. */
  readonly noRoom: string | null;
}

/**
 * Creates segment `seq`: its header, then `zeroCount` zeros, synced, and its directory entry.
 * A disk without room for the zeros gets the header alone, as before there were zeros: a
 * nearly full disk still takes records.
 */
async function createSegment(
  fs: StorageFs,
  dir: string,
  seq: number,
  zeroCount: number,
): Promise<NewSegment> {
  const file = await fs.open(segmentPath(dir, seq), 'create');
  try {
    const header = encodeFileHeader(Magic.SEGMENT, seq);
    await file.write(header, 0);
    let zeros: number | null = null;
    let noRoom: string | null = null;
    if (zeroCount > 0)
      try {
        await writeZeros(file, HEADER_BYTES, HEADER_BYTES + zeroCount);
        zeros = zeroCount;
      } catch (err) {
        if (!outOfSpace(err)) throw err;
        noRoom = errorText(err);
        await file.truncate(HEADER_BYTES);
      }
    await file.datasync();
    await fs.syncDir(dir);
    return { file, zeros, noRoom };
  } catch (err) {
    // Remove the half-made file so a retry can create it again; recovery also drops a last
    // segment without a whole header, should this fail too.
    await file.close().catch(() => undefined);
    await fs.unlink(file.path).catch(() => undefined);
    throw err;
  }
}

/** A write that failed for want of space (or quota, or file size limit), not of a working disk. */
function outOfSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
