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
  /**
   * The pid in a pid file found when the lock was taken: an owner that ended without releasing
   * it (kill -9, a crash, a power loss). Null when there was none (a clean stop removes it).
   */
  readonly leftoverPid: number | null;

  private constructor(server: Server | null, pidPath: string, leftoverPid: number | null) {
    this.#server = server;
    this.#pidPath = pidPath;
    this.leftoverPid = leftoverPid;
  }

  /**
   * `announce: false` (Linux only) takes the lock without writing the pid file yet: the store
   * writes it with `announce()` once the index exists in the dir, so that a pid file left in a
   * dir without data files always means an index was kept there (see recover.ts, `traces`).
   */
  static async acquire(dir: string, options: { announce?: boolean } = {}): Promise<DirLock> {
    // Through the directory, whatever path reached it: every path finds the same file.
    const pidPath = join(dir, PID_FILE);
    let server: Server | null = null;
    let leftoverPid: number | null;
    if (process.platform === 'linux') {
      server = await bind(await lockName(dir)).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'EADDRINUSE') throw locked(dir, readPid(pidPath));
        throw err;
      });
      leftoverPid = readPid(pidPath);
    } else {
      const holder = readPid(pidPath);
      if (holder !== null && holder !== process.pid && isAlive(holder)) throw locked(dir, holder);
      leftoverPid = holder;
    }
    const lock = new DirLock(server, pidPath, leftoverPid === process.pid ? null : leftoverPid);
    if (server === null) writeFileSync(pidPath, `${process.pid}\n`);
    else if (options.announce !== false) lock.announce();
    return lock;
  }

  /** Writes the pid file that names the holder (Linux: informative only, best effort). */
  announce(): void {
    if (this.#server === null) return;
    try {
      writeFileSync(this.#pidPath, `${process.pid}\n`);
    } catch {
      // On Linux the pid file only names the holder: a full disk must not stop the start.
    }
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
