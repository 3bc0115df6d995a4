import fs from 'node:fs';
import { readFile, readdir, mkdir, rename, unlink } from 'node:fs/promises';
import type { OpenMode, StorageFile, StorageFs } from './storage-fs.js';

const FLAGS: Record<OpenMode, string> = { read: 'r', write: 'r+', create: 'wx' };

/**
 * One open file, through node:fs's callback functions on its descriptor rather than a
 * fs/promises FileHandle: a durable group commit makes a write and an fdatasync, and the
 * FileHandle's per-call bookkeeping (a reference count, a result object, a promise made in
 * C++) was a measurable part of the server's CPU per commit when commits are small (one
 * client waiting at a time; docs/benchmarks.md, stop 28).
 */
class NodeFile implements StorageFile {
  readonly path: string;
  readonly #fd: number;
  /** A second descriptor of the file, opened with O_DSYNC on the first writeDurably(); -1 before. */
  #dsyncFd = -1;
  #closed = false;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return writeAll(this.#fd, data, position);
  }

  /**
   * One pwrite(2) per call (more only for a short write) on an O_DSYNC descriptor: the kernel
   * returns once the data and the metadata needed to read it back are on stable storage, as
   * fdatasync would, so the durable log's group commit costs one trip to the thread pool, not
   * two (a write, then an fdatasync).
   */
  async writeDurably(data: Uint8Array, position: number): Promise<void> {
    if (this.#dsyncFd < 0)
      this.#dsyncFd = await openFd(this.path, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
    await writeAll(this.#dsyncFd, data, position);
  }

  read(buffer: Uint8Array, position: number, length: number): Promise<number> {
    return call<number>((done) => {
      fs.read(this.#fd, buffer, 0, length, position, done);
    });
  }

  async size(): Promise<number> {
    return (
      await call<fs.Stats>((done) => {
        fs.fstat(this.#fd, done);
      })
    ).size;
  }

  async stat(): Promise<{ size: number; links: number }> {
    const stats = await call<fs.Stats>((done) => {
      fs.fstat(this.#fd, done);
    });
    return { size: stats.size, links: stats.nlink };
  }

  datasync(): Promise<void> {
    return call((done) => {
      fs.fdatasync(this.#fd, done);
    });
  }

  truncate(length: number): Promise<void> {
    return call((done) => {
      fs.ftruncate(this.#fd, length, done);
    });
  }

  async close(): Promise<void> {
    // Twice is harmless, as with a FileHandle: the descriptor number may belong to another file by then.
    if (this.#closed) return;
    this.#closed = true;
    const dsyncFd = this.#dsyncFd;
    this.#dsyncFd = -1;
    try {
      if (dsyncFd >= 0) await closeFd(dsyncFd);
    } finally {
      await closeFd(this.#fd);
    }
  }
}

/** Runs a node:fs call whose callback is `done`: the promise of its error or its value. */
function call<T = void>(
  start: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, value) => {
      if (err) reject(err);
      else resolve(value as T);
    });
  });
}

function openFd(path: string, flags: string | number): Promise<number> {
  return call<number>((done) => {
    fs.open(path, flags, 0o644, done);
  });
}

function closeFd(fd: number): Promise<void> {
  return call((done) => {
    fs.close(fd, done);
  });
}

/** Writes every byte of `data` at `position`: a short write is continued, not returned. */
async function writeAll(fd: number, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += await writeAt(fd, data, done, position + done);
}

function writeAt(fd: number, data: Uint8Array, offset: number, position: number): Promise<number> {
  return call<number>((done) => {
    fs.write(fd, data, offset, data.length - offset, position, done);
  });
}

/** The real file system, through node:fs. */
export class NodeFs implements StorageFs {
  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    return new NodeFile(path, await openFd(path, FLAGS[mode]));
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(path);
  }

  readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async mkdir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  async syncDir(dir: string): Promise<void> {
    const fd = await openFd(dir, 'r');
    try {
      // fsync(2), not fdatasync: a directory's entries are what must reach the disk.
      await call((done) => {
        fs.fsync(fd, done);
      });
    } finally {
      await closeFd(fd);
    }
  }
}
