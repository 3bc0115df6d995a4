/**
 * The only file operations the storage engine uses. Kept this small so a test can put a
 * fault-injecting layer underneath (test/support/fault-fs.ts), the way SQLite's crash VFS does: every
 * write, sync, rename and unlink of the engine goes through here.
 */
export interface StorageFile {
  readonly path: string;
  /** Writes every byte of `data` at `position` (short writes are continued, not returned). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buffer`; returns how many were read. */
  read(buffer: Uint8Array, position: number, length: number): Promise<number>;
  size(): Promise<number>;
  /** fstat(2): the size, and the names the file has (0 once it was deleted while open). */
  stat(): Promise<{ readonly size: number; readonly links: number }>;
  /** fdatasync(2): the file's data and the metadata needed to read it back are durable. */
  datasync(): Promise<void>;
  /**
   * write() then datasync() as one operation: on return every byte of `data` is at `position`
   * and on stable storage, with whatever was synced before it. What the durable log does per
   * group commit; the real file system does it in one pwrite(2) on a descriptor opened with
   * O_DSYNC, one trip to the thread pool instead of two.
   */
  writeDurably(data: Uint8Array, position: number): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** How a file is opened: read only, read-write on an existing file, or created (must not exist). */
export type OpenMode = 'read' | 'write' | 'create';

export interface StorageFs {
  open(path: string, mode: OpenMode): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  /** Names (not paths) in `dir`. */
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync(2) of a directory: makes creations, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
}
