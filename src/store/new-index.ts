import { basename, dirname, join, resolve } from 'node:path';
import { createError, isPkgIndexError, type PkgIndexError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { CONTROL_FILE, PID_FILE, TEMP_SUFFIX } from './data-dir-files.js';
import { writeControl, type ControlRecord } from './control-file.js';
import { DirLock } from './dir-lock.js';

/**
 * Where a new, empty index may be created (`--create-index`, issue 11 defect 4; ADR 0008):
 * - `missing`: only by making the data dir itself. An existing dir without an index (emptied by
 *   a `rm DIR/*`, a volume that did not mount, a wrong --data-dir) is refused: E_STORAGE_NO_INDEX.
 * - `empty`: also in an existing dir with nothing of the store's in it (a freshly mounted volume).
 * - `never`: nowhere; `pkgindex init` creates it.
 */
export type CreateIndex = 'missing' | 'empty' | 'never';

/** The control record of an index that has never held a record: no snapshot, no segment. */
export const EMPTY_INDEX: ControlRecord = {
  snapshotSeq: 0,
  sealed: [],
  currentSeq: 0,
  currentBytes: 0,
  clean: true,
};

/** What the operator can do about a data dir without an index: both ways out. */
export function waysOut(dir: string): string {
  return (
    `if this is a new index, run \`pkgindex init --data-dir ${dir}\` (or start once with --create-index=empty); ` +
    `if it held an index, check that its volume is mounted and --data-dir is right, or restore a backup (\`pkgindex restore --from FILE --data-dir ${dir}\`)`
  );
}

/** E_STORAGE_NO_INDEX for a missing `dir` that `--create-index=never` may not create. */
export function missingDirError(dir: string): PkgIndexError<'E_STORAGE_NO_INDEX'> {
  return createError(
    'E_STORAGE_NO_INDEX',
    `data dir ${dir} does not exist and --create-index is never; ${waysOut(dir)}`,
  );
}

/** Whether `dir` exists (as a directory; anything else in its place is the caller's error to meet). */
export async function dirExists(fs: StorageFs, dir: string): Promise<boolean> {
  try {
    await fs.readdir(dir);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Creates `dir` holding a new, empty index, unless it exists; resolves with whether it did.
 * The index is built in a sibling `<dir>.creating` under its lock, then renamed into place,
 * so that `dir` exists only once it holds an index: a process killed while creating it leaves
 * no empty `dir` (which the next start would refuse as an emptied one), only the sibling,
 * which the next creation takes over (it holds nothing but files this function writes).
 */
export async function createMissingDir(fs: StorageFs, dir: string): Promise<boolean> {
  if (await dirExists(fs, dir)) return false;
  const target = resolve(dir);
  const parent = dirname(target);
  const building = join(parent, `${basename(target)}.creating`);
  await refuseInsideIndex(fs, dir, parent);
  await fs.mkdir(building);
  const lock = await DirLock.acquire(building, { announce: false }).catch((err: unknown) => {
    if (!isPkgIndexError(err, 'E_STORAGE_LOCKED')) throw err;
    // Another process is creating the same dir, and will own it.
    throw createError(
      'E_STORAGE_LOCKED',
      `data dir ${dir} is being created by another process (which holds ${building}); stop that process or pass another --data-dir`,
      { cause: err },
    );
  });
  try {
    // Left by a creation that was killed: only what this function writes may be taken over.
    const leftovers = new Set([CONTROL_FILE, CONTROL_FILE + TEMP_SUFFIX, PID_FILE]);
    const names = await fs.readdir(building);
    const foreign = names.filter((name) => !leftovers.has(name));
    if (foreign.length > 0)
      throw createError(
        'E_STORAGE_NO_INDEX',
        `cannot create data dir ${dir}: ${building}, where pkgindex builds a new index before moving it into place, holds other files (${foreign.slice(0, 5).join(', ')}); move it away`,
      );
    for (const name of names) if (name !== PID_FILE) await fs.unlink(join(building, name));
    await writeControl(fs, building, EMPTY_INDEX, 0);
    // rename(2) would replace an empty `dir` made meanwhile; one holding anything fails it.
    if (await dirExists(fs, dir)) {
      await fs.unlink(join(building, CONTROL_FILE));
      return false;
    }
    await fs.rename(building, target);
    await fs.syncDir(parent);
    return true;
  } finally {
    lock.release();
  }
}

/**
 * A new data dir inside one that holds an index is a data dir setting gone wrong, most likely
 * an upgrade: the image kept its index at the volume's root before its data dir became the
 * subdirectory `data` (deploy/Dockerfile). Creating it would start an empty index beside the
 * real one, the silent loss the default exists to prevent.
 */
async function refuseInsideIndex(fs: StorageFs, dir: string, parent: string): Promise<void> {
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  const index = names.filter((name) => name === CONTROL_FILE || /^segment-\d{10}\.log$/.test(name));
  if (index.length === 0) return;
  throw createError(
    'E_STORAGE_NO_INDEX',
    `data dir ${dir} does not exist, and its parent ${parent} holds an index (${index.slice(0, 3).join(', ')}): pass --data-dir ${parent} to serve that index (the container image kept its index at the volume's root before its data dir became /var/lib/pkgindex/data), or move its files into ${dir}`,
  );
}

/**
 * `pkgindex init`: a new, empty index in `dir`, which must not exist or be empty (an ext file
 * system's `lost+found` aside: a freshly made volume has one). Under the dir lock the server
 * takes, so that no server starts on it meanwhile. Throws E_INIT_TARGET naming what it found.
 */
export async function initDataDir(fs: StorageFs, dir: string): Promise<void> {
  if (await createMissingDir(fs, dir)) return;
  const lock = await DirLock.acquire(dir, { announce: false });
  try {
    const names = (await fs.readdir(dir)).filter(
      // Our own pid file where the pid file is the lock (not Linux); a leftover one is a trace.
      (name) => name !== 'lost+found' && !(name === PID_FILE && lock.leftoverPid === null),
    );
    if (names.length > 0) throw notEmpty(dir, names, lock.leftoverPid);
    await writeControl(fs, dir, EMPTY_INDEX, 0);
  } finally {
    lock.release();
  }
}

function notEmpty(
  dir: string,
  names: readonly string[],
  leftoverPid: number | null,
): PkgIndexError<'E_INIT_TARGET'> {
  const store = /^(segment-\d{10}\.log|snapshot-\d{10}\.snap|CONTROL|LOCK)$|\.tmp$/;
  const ours = names.filter((name) => store.test(name));
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
  const what =
    ours.length > 0
      ? `files of an index (${ours.slice(0, 5).join(', ')}${leftoverPid === null ? '' : `; LOCK was left by pid ${leftoverPid}`}): start the server on it, check it with \`pkgindex fsck --data-dir ${dir}\`, or replace it with \`pkgindex restore --force\``
      : `other files (${shown}): pass a new or empty directory`;
  return createError('E_INIT_TARGET', `data dir ${dir} is not empty; it holds ${what}`);
}
