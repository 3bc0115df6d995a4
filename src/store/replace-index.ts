import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createError } from '../errors.js';
import type { StorageFs } from './fs/storage-fs.js';
import { TEMP_SUFFIX } from './data-dir-files.js';

/**
 * How `pkgindex restore` replaces the index of a data dir without ever destroying it for a
 * backup that turns out bad, and without a crash leaving a mix of two indexes that anything
 * would serve.
 *
 * 1. The backup is unpacked into `DIR/restore.incoming` and checked there completely (every
 *    checksum, then a recovery). Inside the data dir rather than beside it: the data dir is often
 *    a volume's mount point, and only within one file system is rename(2) a move. Until step 2
 *    the data dir's index is untouched; a failure or a crash leaves only that directory, which
 *    the store ignores and the next restore removes.
 * 2. The marker `DIR/RESTORING` is written (the names of the previous index's files and of the
 *    restored ones), then the previous files are renamed into `DIR/restore.previous`, then the
 *    restored ones into `DIR`, with a directory sync between the phases.
 * 3. The marker is removed (synced), and only then the previous index deleted.
 *
 * While the marker is there the dir holds part of either index: recovery refuses it
 * (E_RESTORE_INTERRUPTED, so neither `serve` nor `fsck` takes it for an index), and the next
 * restore first puts the previous index back (`undoInterruptedReplace`), which the marker and
 * the previous files, never deleted while it exists, always allow.
 */
export const RESTORE_MARKER = 'RESTORING';
export const INCOMING_DIR = 'restore.incoming';
export const PREVIOUS_DIR = 'restore.previous';

interface Marker {
  /** The previous index's files, moved to PREVIOUS_DIR. */
  readonly previous: readonly string[];
  /** The restored index's files, moved from INCOMING_DIR. */
  readonly incoming: readonly string[];
}

/** E_RESTORE_INTERRUPTED when a restore was stopped while it replaced `dir`'s index. */
export async function refuseInterruptedRestore(fs: StorageFs, dir: string): Promise<void> {
  if (!(await fs.readdir(dir)).includes(RESTORE_MARKER)) return;
  throw createError(
    'E_RESTORE_INTERRUPTED',
    `data dir ${dir} holds a pkgindex restore that was stopped while it replaced the index (${join(dir, RESTORE_MARKER)} is there): ` +
      `its files are part the previous index, part the restored one, and must not be served. ` +
      `Run \`pkgindex restore --from FILE --data-dir ${dir} --force\` again: it first puts the previous index back (kept in ${join(dir, PREVIOUS_DIR)}), then restores FILE`,
  );
}

/** An empty `DIR/restore.incoming` to unpack a backup into (a leftover one is removed). */
export async function incomingDir(fs: StorageFs, dir: string): Promise<string> {
  const incoming = join(dir, INCOMING_DIR);
  await rm(incoming, { recursive: true, force: true });
  await fs.mkdir(incoming);
  return incoming;
}

/** Removes what a failed or finished restore left beside the index (no marker: nothing to undo). */
export async function removeRestoreDirs(dir: string): Promise<void> {
  await rm(join(dir, INCOMING_DIR), { recursive: true, force: true });
  await rm(join(dir, PREVIOUS_DIR), { recursive: true, force: true });
}

/**
 * Replaces the files `previous` of `dir` (its index, possibly none) with every file of the
 * checked `DIR/restore.incoming`. On a failure the previous index is put back before the error
 * is thrown; if even that fails, the marker stays for the next restore to finish the undo.
 */
export async function replaceIndex(fs: StorageFs, dir: string, previous: readonly string[]): Promise<void> {
  const incoming = join(dir, INCOMING_DIR);
  const aside = join(dir, PREVIOUS_DIR);
  const marker: Marker = { previous, incoming: await fs.readdir(incoming) };
  await rm(aside, { recursive: true, force: true });
  await fs.mkdir(aside);
  await writeMarker(fs, dir, marker);
  try {
    for (const name of marker.previous) await fs.rename(join(dir, name), join(aside, name));
    await fs.syncDir(aside);
    await fs.syncDir(dir);
    for (const name of marker.incoming) await fs.rename(join(incoming, name), join(dir, name));
    await fs.syncDir(dir);
  } catch (err) {
    const why = (err as Error).message;
    try {
      await undoInterruptedReplace(fs, dir);
    } catch (undo) {
      throw createError(
        'E_RESTORE_INTERRUPTED',
        `cannot move the restored index into data dir ${dir} (${why}), nor put its previous index back (${(undo as Error).message}); ` +
          `${RESTORE_MARKER} stays there so that nothing serves the mix: fix the file system, then run pkgindex restore again (it puts the previous index back first)`,
        { cause: err },
      );
    }
    throw createError(
      'E_STORAGE_IO',
      `cannot move the restored index into data dir ${dir} (${why}); its previous index was put back, the dir is as it was. Check the file system (dmesg), then restore again`,
      { cause: err },
    );
  }
  await fs.unlink(join(dir, RESTORE_MARKER));
  await fs.syncDir(dir);
  // The restored index is in place and durable: what is left is only disk space, which the
  // next restore reclaims if this fails.
  await removeRestoreDirs(dir).catch(() => undefined);
}

/**
 * Puts back the previous index of a replacement that was stopped (the marker is there), and
 * removes what a restore left beside the index. Resolves with whether there was one to undo.
 */
export async function undoInterruptedReplace(fs: StorageFs, dir: string): Promise<boolean> {
  const names = await fs.readdir(dir);
  if (!names.includes(RESTORE_MARKER)) {
    // Stopped before the marker was renamed into place: nothing was moved.
    if (names.includes(RESTORE_MARKER + TEMP_SUFFIX))
      await fs.unlink(join(dir, RESTORE_MARKER + TEMP_SUFFIX));
    await removeRestoreDirs(dir);
    return false;
  }
  const marker = parseMarker(await fs.readFile(join(dir, RESTORE_MARKER)), dir);
  const aside = join(dir, PREVIOUS_DIR);
  const set = new Set(await readdirOrNone(fs, aside));
  // Restored files are in the dir only once every previous one was moved aside (step 2's
  // order, with a directory sync between): a name both indexes share is then a restored file.
  if (marker.previous.every((name) => set.has(name))) {
    const stillIncoming = new Set(await readdirOrNone(fs, join(dir, INCOMING_DIR)));
    const inDir = new Set(names);
    for (const name of marker.incoming)
      if (!stillIncoming.has(name) && inDir.has(name)) await fs.unlink(join(dir, name));
  }
  for (const name of marker.previous) if (set.has(name)) await fs.rename(join(aside, name), join(dir, name));
  await fs.syncDir(dir);
  await fs.unlink(join(dir, RESTORE_MARKER));
  await fs.syncDir(dir);
  await removeRestoreDirs(dir);
  return true;
}

/** Written whole or not at all: a rename of a synced temporary file, then a directory sync. */
async function writeMarker(fs: StorageFs, dir: string, marker: Marker): Promise<void> {
  const temporary = join(dir, RESTORE_MARKER + TEMP_SUFFIX);
  await fs.unlink(temporary).catch((err: unknown) => {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
  });
  const file = await fs.open(temporary, 'create');
  try {
    await file.write(Buffer.from(JSON.stringify(marker) + '\n'), 0);
    await file.datasync();
  } finally {
    await file.close();
  }
  await fs.rename(temporary, join(dir, RESTORE_MARKER));
  await fs.syncDir(dir);
}

function parseMarker(bytes: Buffer, dir: string): Marker {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as Partial<Marker>;
    const names = (list: unknown): list is string[] =>
      Array.isArray(list) && list.every((name) => typeof name === 'string' && !name.includes('/'));
    if (names(value.previous) && names(value.incoming))
      return { previous: value.previous, incoming: value.incoming };
  } catch {
    // Reported below.
  }
  throw createError(
    'E_RESTORE_INTERRUPTED',
    `${join(dir, RESTORE_MARKER)}, the record of a restore that was stopped, cannot be read, so its previous index cannot be put back automatically: ` +
      `the previous index's files are in ${join(dir, PREVIOUS_DIR)} and the dir's others may be the restored one's; move them by hand, or restore into an empty dir`,
  );
}

async function readdirOrNone(fs: StorageFs, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return [];
    throw err;
  }
}
