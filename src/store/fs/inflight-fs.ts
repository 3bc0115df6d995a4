import { performance } from 'node:perf_hooks';
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
 * A StorageFs that knows which of its operations are in flight and since when, so that a hung
 * disk (an fdatasync that never returns, an NFS server gone) is noticed while it hangs rather
 * than when it completes: the store's watchdog reads `oldest()` (see disk-store.ts), and the
 * age is exported as `pkgindex_store_inflight_io_age_seconds`. Costs one Set insert and delete
 * per operation, which is per group commit, not per command.
 */
export class InflightFs implements StorageFs {
  readonly #inner: StorageFs;
  /** In start order, so the first is the oldest. */
  readonly #inflight = new Set<InflightOp>();
  readonly #onStuckDone: (op: InflightOp, durationMs: number, failed: boolean) => void;

  constructor(inner: StorageFs, onStuckDone: (op: InflightOp, durationMs: number, failed: boolean) => void) {
    this.#inner = inner;
    this.#onStuckDone = onStuckDone;
  }

  /** The operation in flight the longest, or null when none is. */
  oldest(): InflightOp | null {
    for (const op of this.#inflight) return op;
    return null;
  }

  /** The operations in flight, oldest first. */
  inflight(): IterableIterator<InflightOp> {
    return this.#inflight.values();
  }

  /** Runs `run` as one tracked operation. */
  async track<T>(op: string, path: string, run: () => Promise<T>): Promise<T> {
    const entry: InflightOp = { op, path, startedAt: performance.now(), stuck: false };
    this.#inflight.add(entry);
    let failed = true;
    try {
      const result = await run();
      failed = false;
      return result;
    } finally {
      this.#inflight.delete(entry);
      if (entry.stuck) this.#onStuckDone(entry, performance.now() - entry.startedAt, failed);
    }
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

  datasync(): Promise<void> {
    return this.#fs.track('fdatasync', this.path, () => this.#inner.datasync());
  }

  truncate(length: number): Promise<void> {
    return this.#fs.track('truncate', this.path, () => this.#inner.truncate(length));
  }

  close(): Promise<void> {
    return this.#fs.track('close', this.path, () => this.#inner.close());
  }
}
