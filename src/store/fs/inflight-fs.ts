import { performance } from 'node:perf_hooks';
import { createError } from '../../errors.js';
import type { OpenMode, StorageFile, StorageFs } from './storage-fs.js';

/** One storage operation that has started and not yet completed. */
export interface InflightOp {
  readonly op: string;
  readonly path: string;
  /** performance.now() when it started. */
  readonly startedAt: number;
  /** Set by the watchdog once it is past the deadline; reported again when it completes. */
  stuck: boolean;
}

/**
 * What a tracked file system tells about each operation: that it starts (`begin` returns the
 * id `end` is called with) and that it ended. The store's IoTracker implements it; in the
 * compaction thread, a forwarder posts both to the store's thread (compaction-thread.ts).
 */
export interface IoObserver {
  begin(op: string, path: string): number;
  end(id: number, failed: boolean): void;
}

/**
 * The storage operations in flight and since when, so that a hung disk (an fdatasync that never
 * returns, an NFS server gone) is noticed while it hangs rather than when it completes: the
 * store's watchdog reads `oldest()`/`inflight()` (see disk-store.ts), and the age is exported as
 * `pkgindex_store_inflight_io_age_seconds`. Costs one Map insert and delete per operation,
 * which is per group commit, not per command.
 */
export class IoTracker implements IoObserver {
  /** In start order, so the first is the oldest. */
  readonly #inflight = new Map<number, InflightOp>();
  readonly #onStuckDone: (op: InflightOp, durationMs: number, failed: boolean) => void;
  #nextId = 1;

  constructor(onStuckDone: (op: InflightOp, durationMs: number, failed: boolean) => void) {
    this.#onStuckDone = onStuckDone;
  }

  begin(op: string, path: string): number {
    const id = this.#nextId++;
    this.#inflight.set(id, { op, path, startedAt: performance.now(), stuck: false });
    return id;
  }

  end(id: number, failed: boolean): void {
    const entry = this.#inflight.get(id);
    if (entry === undefined) return;
    this.#inflight.delete(id);
    if (entry.stuck) this.#onStuckDone(entry, performance.now() - entry.startedAt, failed);
  }

  /** Forgets every operation in flight, without reporting them (their thread is gone). */
  clear(): void {
    this.#inflight.clear();
  }

  /** The operation in flight the longest, or null when none is. */
  oldest(): InflightOp | null {
    for (const op of this.#inflight.values()) return op;
    return null;
  }

  /** The operations in flight, oldest first. */
  inflight(): IterableIterator<InflightOp> {
    return this.#inflight.values();
  }
}

/**
 * A StorageFs whose every operation is reported to an IoObserver while in flight. With
 * `abandoned` (which returns why, or null), an operation that would start once it says so
 * fails at once with E_STORAGE_IO instead (a compaction abandoned past the deadline stops at
 * its next operation).
 */
export class InflightFs implements StorageFs {
  readonly #inner: StorageFs;
  readonly #observer: IoObserver;
  readonly #abandoned: () => string | null;

  constructor(inner: StorageFs, observer: IoObserver, abandoned: () => string | null = () => null) {
    this.#inner = inner;
    this.#observer = observer;
    this.#abandoned = abandoned;
  }

  /** Runs `run` as one tracked operation; `always`: even once abandoned (closing a file). */
  track<T>(op: string, path: string, run: () => Promise<T>, always = false): Promise<T> {
    const abandoned = always ? null : this.#abandoned();
    if (abandoned !== null)
      return Promise.reject(createError('E_STORAGE_IO', `${op} of ${path} not started: ${abandoned}`));
    const observer = this.#observer;
    const id = observer.begin(op, path);
    let running: Promise<T>;
    try {
      running = run();
    } catch (err) {
      // Not started at all: ended, and thrown as it came (every caller awaits it).
      observer.end(id, true);
      throw err;
    }
    // One reaction on the operation's promise, not an async function's (two per commit's write
    // and fdatasync add up when commits are small).
    return running.then(
      (result) => {
        observer.end(id, false);
        return result;
      },
      (err: unknown) => {
        observer.end(id, true);
        throw err;
      },
    );
  }

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    return new InflightFile(this, await this.track('open', path, () => this.#inner.open(path, mode)));
  }

  readFile(path: string): Promise<Buffer> {
    return this.track('read', path, () => this.#inner.readFile(path));
  }

  readdir(dir: string): Promise<string[]> {
    return this.track('readdir', dir, () => this.#inner.readdir(dir));
  }

  mkdir(dir: string): Promise<void> {
    return this.track('mkdir', dir, () => this.#inner.mkdir(dir));
  }

  rename(from: string, to: string): Promise<void> {
    return this.track('rename', from, () => this.#inner.rename(from, to));
  }

  unlink(path: string): Promise<void> {
    return this.track('unlink', path, () => this.#inner.unlink(path));
  }

  syncDir(dir: string): Promise<void> {
    return this.track('fsync', dir, () => this.#inner.syncDir(dir));
  }
}

class InflightFile implements StorageFile {
  readonly #fs: InflightFs;
  readonly #inner: StorageFile;

  constructor(fs: InflightFs, inner: StorageFile) {
    this.#fs = fs;
    this.#inner = inner;
  }

  get path(): string {
    return this.#inner.path;
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.#fs.track('write', this.path, () => this.#inner.write(data, position));
  }

  read(buffer: Uint8Array, position: number, length: number): Promise<number> {
    return this.#fs.track('read', this.path, () => this.#inner.read(buffer, position, length));
  }

  size(): Promise<number> {
    return this.#fs.track('stat', this.path, () => this.#inner.size());
  }

  stat(): Promise<{ size: number; links: number }> {
    return this.#fs.track('stat', this.path, () => this.#inner.stat());
  }

  datasync(): Promise<void> {
    return this.#fs.track('fdatasync', this.path, () => this.#inner.datasync());
  }

  writeDurably(data: Uint8Array, position: number): Promise<void> {
    return this.#fs.track('write+fdatasync', this.path, () => this.#inner.writeDurably(data, position));
  }

  truncate(length: number): Promise<void> {
    return this.#fs.track('truncate', this.path, () => this.#inner.truncate(length));
  }

  close(): Promise<void> {
    // An abandoned compaction still closes its files: never refused.
    return this.#fs.track('close', this.path, () => this.#inner.close(), true);
  }
}
