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
  #closed = false;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) done += await writeAt(this.#fd, data, done, position + done);
  }

  read(buffer: Uint8Array, position: number, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.#fd, buffer, 0, length, position, (err, bytesRead) => {
        if (!err) resolve(bytesRead);
        else reject(err);
      });
    });
  }

  size(): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.fstat(this.#fd, (err, stats) => {
        if (!err) resolve(stats.size);
        else reject(err);
      });
    });
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.#fd, (err) => {
        if (!err) resolve();
        else reject(err);
      });
    });
  }

  truncate(length: number): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.ftruncate(this.#fd, length, (err) => {
        if (!err) resolve();
        else reject(err);
      });
    });
  }

  close(): Promise<void> {
    // Twice is harmless, as with a FileHandle: the descriptor number may belong to another file by then.
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve, reject) => {
      fs.close(this.#fd, (err) => {
        if (!err) resolve();
        else reject(err);
      });
    });
  }
}

function writeAt(fd: number, data: Uint8Array, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, data, offset, data.length - offset, position, (err, written) => {
      if (!err) resolve(written);
      else reject(err);
    });
  });
}

/** The real file system, through node:fs. */
export class NodeFs implements StorageFs {
  open(path: string, mode: OpenMode): Promise<StorageFile> {
    return new Promise((resolve, reject) => {
      fs.open(path, FLAGS[mode], 0o644, (err, fd) => {
        if (!err) resolve(new NodeFile(path, fd));
        else reject(err);
      });
    });
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
    const fd = await new Promise<number>((resolve, reject) => {
      fs.open(dir, 'r', (err, opened) => {
        if (!err) resolve(opened);
        else reject(err);
      });
    });
    try {
      // fsync(2), not fdatasync: a directory's entries are what must reach the disk.
      await new Promise<void>((resolve, reject) => {
        fs.fsync(fd, (err) => {
          if (!err) resolve();
          else reject(err);
        });
      });
    } finally {
      await new Promise<void>((resolve, reject) => {
        fs.close(fd, (err) => {
          if (!err) resolve();
          else reject(err);
        });
      });
    }
  }
}
