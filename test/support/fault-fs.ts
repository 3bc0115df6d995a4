import { dirname } from 'node:path';
import type { OpenMode, StorageFile, StorageFs } from '../../src/store/fs/storage-fs.js';
import { NodeFs } from '../../src/store/fs/node-fs.js';

/** Operations a fault can be injected into. */
export type FaultOp = 'open' | 'write' | 'read' | 'datasync' | 'truncate' | 'rename' | 'unlink' | 'syncDir';

export interface FaultRule {
  readonly op: FaultOp;
  /** Calls of `op` (matching `path`) to let through before failing. Default 0: the next one. */
  readonly after?: number;
  /** How many calls fail once it starts. Default 1; Infinity until `heal()`. */
  readonly times?: number;
  /** errno code of the failure. Default EIO. */
  readonly code?: string;
  /** Only paths containing this. */
  readonly path?: string;
  /** For writes: write the first half of the data before failing (a short write, then error). */
  readonly partial?: boolean;
  /**
   * True: only the durable log's zeroing ahead of its records (writes of zeros alone, and the
   * syncs after nothing else). By default a rule never fails those, so that a rule meant for
   * the records is not spent on a zeroing that happens to run first (log-writer.ts).
   */
  readonly zeros?: boolean;
}

/** A held operation: a disk that hangs until the test lets it go. */
export interface Hold {
  /** Resolves once a matching call has started and is waiting. */
  readonly reached: Promise<void>;
  /** Lets the call go on (and every later one it holds); it then succeeds or fails as it would. */
  release(): void;
}

interface ActiveHold {
  readonly op: FaultOp;
  readonly path: string | undefined;
  /** Only the log's zeroing (see FaultRule.zeros); otherwise never it. */
  readonly zeros: boolean;
  readonly reached: () => void;
  readonly gate: Promise<void>;
  used: boolean;
}

/** What a simulated power loss does to bytes written but not synced. */
export type CrashMode = 'drop' | 'tear';

interface Tracked {
  /** Bytes of the file known to be on stable storage. */
  durable: number;
  /**
   * Ranges whose writeback failed: the kernel marks such pages clean without writing them, so
   * no later sync saves them and a power loss finds whatever was on disk before (zeros here).
   */
  lost: [start: number, end: number][];
}

interface ActiveRule {
  rule: FaultRule;
  skip: number;
  left: number;
}

/**
 * A StorageFs over real files that fails chosen operations and simulates power loss, in the
 * spirit of SQLite's crash-test VFS. It tracks, for every file written through it, how much is
 * durable (up to the last successful datasync) and which directory entries are (created or
 * renamed since the last syncDir). `crash()` then makes the real files look as after a power
 * cut: unsynced bytes dropped or torn, unsynced creations removed, unsynced renames undone;
 * after it every call fails, as the process is "dead".
 *
 * Not modelled: unlinks are durable at once (the engine tolerates both outcomes).
 */
export class FaultFs implements StorageFs {
  readonly #inner: StorageFs;
  readonly #rules: ActiveRule[] = [];
  readonly #tracked = new Map<string, Tracked>();
  /** Paths created since their directory was last synced. */
  readonly #newEntries = new Set<string>();
  /** Renames since the directory was last synced, in order. */
  #renames: [from: string, to: string][] = [];
  readonly #counts = new Map<FaultOp, number>();
  readonly #failures = new Map<FaultOp, number>();
  readonly #holds: ActiveHold[] = [];
  #dead = false;

  constructor(inner: StorageFs = new NodeFs()) {
    this.#inner = inner;
  }

  /** Adds a fault. */
  inject(rule: FaultRule): void {
    this.#rules.push({ rule, skip: rule.after ?? 0, left: rule.times ?? 1 });
  }

  /**
   * The next call of `op` (on a path containing `path`; for a rename, the path renamed) hangs
   * until `release()`, as on a disk or NFS server that stopped answering. Only write, datasync,
   * truncate and rename are held; the log's zeroing only with `zeros` (see FaultRule.zeros),
   * and then nothing else.
   */
  hold(op: 'write' | 'datasync' | 'truncate' | 'rename', path?: string, zeros = false): Hold {
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.#holds.push({ op, path, zeros, reached, gate, used: false });
    return { reached: reachedPromise, release };
  }

  /** Waits while a hold matches this call. */
  async held(op: FaultOp, path: string, zeros = false): Promise<void> {
    const hold = this.#holds.find(
      (h) => !h.used && h.op === op && (h.path === undefined || path.includes(h.path)) && h.zeros === zeros,
    );
    if (hold === undefined) return;
    hold.used = true;
    hold.reached();
    await hold.gate;
  }

  /** Removes every fault not yet spent. */
  heal(): void {
    this.#rules.length = 0;
  }

  /** Calls of `op` so far (failed ones included). */
  count(op: FaultOp): number {
    return this.#counts.get(op) ?? 0;
  }

  /** Calls of `op` so far that an injected fault failed. */
  failures(op: FaultOp): number {
    return this.#failures.get(op) ?? 0;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /**
   * Power loss: from now on every call fails; the files on disk are cut back to what was
   * durable. With 'tear', a random prefix of each file's unsynced bytes survives, with some of
   * its bytes zeroed, as when only some pages reached the disk.
   */
  async crash(mode: CrashMode, random: () => number = Math.random): Promise<void> {
    this.#dead = true;
    for (const [from, to] of this.#renames.reverse())
      await this.#inner.rename(to, from).catch(() => undefined);
    this.#renames = [];
    for (const path of this.#newEntries) {
      await this.#inner.unlink(path).catch(() => undefined);
      this.#tracked.delete(path);
    }
    this.#newEntries.clear();
    for (const [path, tracked] of this.#tracked) {
      const file = await this.#inner.open(path, 'write').catch(() => null);
      if (file === null) continue;
      try {
        const size = await file.size();
        let keep = Math.min(tracked.durable, size);
        if (mode === 'tear' && size > keep) {
          const torn = Math.floor(random() * (size - keep + 1));
          if (torn > 0) {
            const zeroAt = keep + Math.floor(random() * torn);
            const zeroLen = Math.min(torn - (zeroAt - keep), 1 + Math.floor(random() * 64));
            if (random() < 0.5) await file.write(new Uint8Array(zeroLen), zeroAt);
          }
          keep += torn;
        }
        await file.truncate(keep);
        for (const [start, end] of tracked.lost)
          if (start < keep) await file.write(new Uint8Array(Math.min(end, keep) - start), start);
      } finally {
        await file.close();
      }
    }
    this.#tracked.clear();
  }

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    this.#check('open', path);
    const file = await this.#inner.open(path, mode);
    if (mode === 'create') {
      this.#tracked.set(path, { durable: 0, lost: [] });
      this.#newEntries.add(path);
    } else if (mode === 'write' && !this.#tracked.has(path)) {
      this.#tracked.set(path, { durable: await file.size(), lost: [] });
    }
    return new FaultFile(this, file);
  }

  async readFile(path: string): Promise<Buffer> {
    this.#check('read', path);
    return await this.#inner.readFile(path);
  }

  async readdir(dir: string): Promise<string[]> {
    this.#check('read', dir);
    return await this.#inner.readdir(dir);
  }

  async mkdir(dir: string): Promise<void> {
    this.#check('open', dir);
    await this.#inner.mkdir(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.held('rename', from);
    this.#check('rename', from);
    await this.#inner.rename(from, to);
    this.#renames.push([from, to]);
    const tracked = this.#tracked.get(from);
    this.#tracked.delete(from);
    if (tracked !== undefined) this.#tracked.set(to, tracked);
    if (this.#newEntries.delete(from)) this.#newEntries.add(to);
  }

  async unlink(path: string): Promise<void> {
    this.#check('unlink', path);
    await this.#inner.unlink(path);
    this.#tracked.delete(path);
    this.#newEntries.delete(path);
  }

  async syncDir(dir: string): Promise<void> {
    this.#check('syncDir', dir);
    await this.#inner.syncDir(dir);
    for (const path of this.#newEntries) if (dirname(path) === dir) this.#newEntries.delete(path);
    this.#renames = this.#renames.filter(([, to]) => dirname(to) !== dir);
  }

  /** Counts the call and throws the injected error, if one is due, or if crashed. */
  check(op: FaultOp, path: string, zeros = false): FaultRule | null {
    this.#counts.set(op, this.count(op) + 1);
    if (this.#dead) throw fsError('ECRASHED', op, path);
    for (const active of this.#rules) {
      const { rule } = active;
      if (rule.op !== op || active.left <= 0) continue;
      if (rule.path !== undefined && !path.includes(rule.path)) continue;
      if ((rule.zeros === true) !== zeros) continue;
      if (active.skip > 0) {
        active.skip--;
        continue;
      }
      active.left--;
      this.#failures.set(op, this.failures(op) + 1);
      return rule;
    }
    return null;
  }

  #check(op: FaultOp, path: string): void {
    const rule = this.check(op, path);
    if (rule !== null) throw fsError(rule.code ?? 'EIO', op, path);
  }

  /** Records that `path` is durable up to `size` bytes. */
  synced(path: string, size: number): void {
    const tracked = this.#tracked.get(path);
    if (tracked !== undefined) tracked.durable = size;
  }

  truncated(path: string, length: number): void {
    const tracked = this.#tracked.get(path);
    if (tracked === undefined) return;
    tracked.durable = Math.min(tracked.durable, length);
    tracked.lost = tracked.lost
      .filter(([start]) => start < length)
      .map(([start, end]) => [start, Math.min(end, length)]);
  }

  /** A sync of `path` failed while it was `size` bytes long: its unsynced bytes are lost. */
  syncFailed(path: string, size: number): void {
    const tracked = this.#tracked.get(path);
    if (tracked !== undefined && size > tracked.durable) tracked.lost.push([tracked.durable, size]);
  }

  /**
   * A write over `[start, end)` of `path`, bytes already durable (a log's zeros), was not
   * synced: its pages are lost as a failed sync loses them, and a power loss finds what was
   * there before (zeros, as `crash` writes for lost ranges).
   */
  overwriteLost(path: string, start: number, end: number): void {
    const tracked = this.#tracked.get(path);
    if (tracked !== undefined && start < tracked.durable)
      tracked.lost.push([start, Math.min(end, tracked.durable)]);
  }
}

class FaultFile implements StorageFile {
  readonly #fs: FaultFs;
  readonly #inner: StorageFile;
  /** Whether what was written since the last sync is zeros alone; null: nothing was. */
  #unsyncedZeros: boolean | null = null;

  constructor(fs: FaultFs, inner: StorageFile) {
    this.#fs = fs;
    this.#inner = inner;
  }

  get path(): string {
    return this.#inner.path;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const zeros = allZero(data);
    await this.#writeFaults(data, position, zeros);
    await this.#inner.write(data, position);
    this.#unsyncedZeros = (this.#unsyncedZeros ?? true) && zeros;
  }

  async read(buffer: Uint8Array, position: number, length: number): Promise<number> {
    this.#throwIf('read');
    return await this.#inner.read(buffer, position, length);
  }

  stat(): Promise<{ size: number; links: number }> {
    return this.#inner.stat();
  }

  async size(): Promise<number> {
    this.#throwIf('read');
    return await this.#inner.size();
  }

  async datasync(): Promise<void> {
    // A sync after zeros alone is the log's zeroing (see FaultRule.zeros).
    const zeros = this.#unsyncedZeros === true;
    this.#unsyncedZeros = null;
    await this.#syncFaults(zeros);
    await this.#inner.datasync();
    this.#fs.synced(this.path, await this.#inner.size());
  }

  /**
   * Faults as for write() then datasync(), which is what it is: a write fault fails it before
   * anything is written; a datasync fault after the bytes reached the page cache, which are
   * then lost as after any failed sync. Without a fault, the real writeDurably().
   */
  async writeDurably(data: Uint8Array, position: number): Promise<void> {
    await this.#writeFaults(data, position, false);
    await this.#syncFaults(false, async () => {
      await this.#inner.write(data, position);
      this.#fs.overwriteLost(this.path, position, position + data.length);
    });
    await this.#inner.writeDurably(data, position);
    this.#fs.synced(this.path, await this.#inner.size());
  }

  /** A write's hold, then its injected failure, if any (a partial one writes half the data first). */
  async #writeFaults(data: Uint8Array, position: number, zeros: boolean): Promise<void> {
    await this.#fs.held('write', this.path, zeros);
    const rule = this.#fs.check('write', this.path, zeros);
    if (rule === null) return;
    if (rule.partial === true) await this.#inner.write(data.subarray(0, data.length >> 1), position);
    throw fsError(rule.code ?? 'EIO', 'write', this.path);
  }

  /**
   * A sync's hold, then its injected failure, if any: the file's unsynced bytes are lost, those
   * `written` first (a write that reached the page cache before the sync failed) included.
   */
  async #syncFaults(zeros: boolean, written?: () => Promise<void>): Promise<void> {
    await this.#fs.held('datasync', this.path, zeros);
    const rule = this.#fs.check('datasync', this.path, zeros);
    if (rule === null) return;
    await written?.();
    if (!this.#fs.dead) this.#fs.syncFailed(this.path, await this.#inner.size());
    throw fsError(rule.code ?? 'EIO', 'datasync', this.path);
  }

  async truncate(length: number): Promise<void> {
    await this.#fs.held('truncate', this.path);
    this.#throwIf('truncate');
    await this.#inner.truncate(length);
    this.#fs.truncated(this.path, length);
  }

  close(): Promise<void> {
    // Closing never fails here: a dead process's descriptors are closed by the kernel.
    return this.#inner.close();
  }

  #throwIf(op: FaultOp): void {
    const rule = this.#fs.check(op, this.path);
    if (rule !== null) throw fsError(rule.code ?? 'EIO', op, this.path);
  }
}

function allZero(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false;
  return data.length > 0;
}

function fsError(code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: simulated ${op} failure, '${path}'`), { code, syscall: op, path });
}
