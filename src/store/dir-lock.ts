import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createError, type PkgIndexError } from '../errors.js';
import { PID_FILE } from './data-dir-files.js';

/**
 * One owner per data dir. Node has no flock(2), so on Linux the lock is a Unix socket bound
 * in the abstract namespace under a name made of the dir's device and inode numbers: the
 * directory itself, not a path to it, so a symlink, a second mount or a bind mount of the same
 * directory all name the same lock (issue 11, defect 3). Binding fails while another process
 * holds it, and the kernel releases it when the holder dies, so a kill -9 never leaves a stale
 * lock. The pid file is only there to name the holder in the message. Elsewhere the pid file
 * is the lock, taken over when its pid is no longer alive. See docs/adr/0015.
 */
export class DirLock {
  readonly #server: Server | null;
  readonly #pidPath: string;

  private constructor(server: Server | null, pidPath: string) {
    this.#server = server;
    this.#pidPath = pidPath;
  }

  static async acquire(dir: string): Promise<DirLock> {
    // Through the directory, whatever path reached it: every path finds the same file.
    const pidPath = join(dir, PID_FILE);
    let server: Server | null = null;
    if (process.platform === 'linux') {
      server = await bind(await lockName(dir)).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'EADDRINUSE') throw locked(dir, readPid(pidPath));
        throw err;
      });
    } else {
      const holder = readPid(pidPath);
      if (holder !== null && holder !== process.pid && isAlive(holder)) throw locked(dir, holder);
    }
    try {
      writeFileSync(pidPath, `${process.pid}\n`);
    } catch (err) {
      // On Linux the pid file only names the holder: a full disk must not stop the start.
      if (server === null) throw err;
    }
    return new DirLock(server, pidPath);
  }

  release(): void {
    try {
      if (readPid(this.#pidPath) === process.pid) unlinkSync(this.#pidPath);
    } catch {
      // Only informative; a leftover pid file never blocks the next owner.
    }
    this.#server?.close();
  }
}

/**
 * The abstract socket name of `dir`'s lock: its device and inode, which every path to it
 * shares (st_dev is the file system's, so a bind mount shows the same pair).
 */
export async function lockName(dir: string): Promise<string> {
  const { dev, ino } = await stat(dir, { bigint: true });
  return `\0pkgindex-lock-${dev.toString(16)}-${ino.toString(16)}`;
}

function bind(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', reject);
      // The lock must not keep the process alive by itself.
      server.unref();
      resolve(server);
    });
  });
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'latin1'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

function locked(dir: string, pid: number | null): PkgIndexError<'E_STORAGE_LOCKED'> {
  const holder = pid === null ? 'another process' : `pid ${pid}`;
  return createError(
    'E_STORAGE_LOCKED',
    `data dir ${dir} is locked by ${holder}; stop that process or pass another --data-dir`,
  );
}
