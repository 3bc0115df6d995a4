import { open, readFile, readdir, mkdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { OpenMode, StorageFile, StorageFs } from './storage-fs.js';

const FLAGS: Record<OpenMode, string> = { read: 'r', write: 'r+', create: 'wx' };

class NodeFile implements StorageFile {
  readonly path: string;
  readonly #handle: FileHandle;

  constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  async read(buffer: Uint8Array, position: number, length: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(buffer, 0, length, position);
    return bytesRead;
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  datasync(): Promise<void> {
    return this.#handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/** The real file system, through node:fs/promises. */
export class NodeFs implements StorageFs {
  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    return new NodeFile(path, await open(path, FLAGS[mode], 0o644));
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
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
