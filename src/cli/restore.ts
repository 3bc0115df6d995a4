import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { option } from '../config/command-line.js';
import { OPTIONS } from '../config/options.js';
import { flagBool, text } from '../config/parsers.js';
import { createError, isOperationalError, isPkgIndexError } from '../errors.js';
import type { DependencyGraph } from '../graph/dependency-graph.js';
import { restoreArchive, type Restored } from '../store/backup-archive.js';
import { CONTROL_FILE, listDataDir, PID_FILE, TEMP_SUFFIX } from '../store/data-dir-files.js';
import { writeControl, type ControlRecord } from '../store/control-file.js';
import { DirLock } from '../store/dir-lock.js';
import { NodeFs } from '../store/fs/node-fs.js';
import { recover, type Recovered } from '../store/recover.js';
import {
  INCOMING_DIR,
  incomingDir,
  removeRestoreDirs,
  replaceIndex,
  undoInterruptedReplace,
} from '../store/replace-index.js';
import { defineCommand } from './command.js';

/**
 * `pkgindex restore --from FILE --data-dir DIR`: unpacks a backup into a data dir, checking
 * every file's checksum and then the whole index (as a server's recovery would), under the
 * data dir's lock so that no server runs on it meanwhile. The backup is unpacked and checked
 * beside the dir's index, which is replaced only once the backup is known good, so a bad
 * backup never costs the index it was meant to replace (replace-index.ts).
 */
export const command = defineCommand({
  description: `Restores a backup made by pkgindex backup into a data dir, then checks it as a server's
startup would (every record's checksum, the index's consistency). The dir must hold no data
files, unless --force, which replaces them once the backup has been checked: a damaged backup
leaves the dir as it was. Start a server on the dir afterwards.`,
  options: {
    from: option({
      flag: '--from',
      value: 'FILE',
      default: '',
      help: 'The backup file to restore (required).',
      parse: text,
    }),
    dataDir: option({
      flag: '--data-dir',
      env: 'PKGINDEX_DATA_DIR',
      value: 'DIR',
      default: OPTIONS.dataDir.default,
      help: 'The data dir to restore into (created if missing).',
      parse: text,
    }),
    force: option({
      flag: '--force',
      default: false,
      help: 'Replace the index already in the dir (deleted once the backup is checked) instead of refusing.',
      parse: flagBool,
    }),
  },
  epilogue:
    'Exit status: 0 restored and checked, 2 not restored (the reason on stderr; the dir is left as it was).',
  run: async ({ from, dataDir, force }) => {
    if (from === '') throw createError('E_USAGE', 'pass --from FILE: the backup to restore');
    const fs = new NodeFs();
    await fs.mkdir(dataDir);
    const lock = await DirLock.acquire(dataDir).catch((err: unknown) => {
      if (isPkgIndexError(err, 'E_STORAGE_LOCKED'))
        throw createError(
          'E_RESTORE_TARGET',
          `${err.message.split(';')[0]}; stop the server before restoring`,
        );
      throw err;
    });
    try {
      // A restore stopped while it replaced the index: its previous index comes back first.
      const undone = await undoInterruptedReplace(fs, dataDir);
      const existing = await dataFiles(fs, dataDir);
      const index = existing.filter((name) => name !== CONTROL_FILE && !name.endsWith(TEMP_SUFFIX));
      if (index.length > 0 && !force)
        throw createError(
          'E_RESTORE_TARGET',
          `data dir ${dataDir} already holds ${index.length} data files${undone ? ' (its previous index, put back from a restore that was stopped while it replaced it)' : ''}; restore into an empty dir, or pass --force to replace its index`,
        );
      const incoming = await incomingDir(fs, dataDir);
      let restored: Restored;
      let graph: DependencyGraph;
      try {
        restored = await restoreArchive(createReadStream(from), fs, incoming);
        // A backup made before archives carried a control record: write the one of what was
        // restored (every file whole, the last segment as if stopped cleanly).
        if (!restored.control)
          await writeControl(
            fs,
            incoming,
            controlOf(await recover(fs, incoming, { repair: false, createIndex: 'empty' })),
            1,
          );
        // As the server's start will: every record, and the files against the control record.
        ({ graph } = await recover(fs, incoming, { repair: false, createIndex: 'never' }));
      } catch (err) {
        await removeRestoreDirs(dataDir);
        throw notRestored(err, from, dataDir, existing.length > 0);
      }
      // A control record without data files (an emptied dir) describes an index that is gone:
      // the restored one replaces it, so it goes too.
      await replaceIndex(fs, dataDir, existing);
      process.stdout.write(
        `restored ${restored.files} files (${restored.bytes} bytes) into ${dataDir}: ${graph.size} packages, ${graph.edgeCount} dependencies; checked${restored.control ? '' : ' (control record written: the backup had none)'}\n`,
      );
    } finally {
      lock.release();
    }
    return 0;
  },
});

/**
 * Why the backup was not restored, saying that the data dir is as it was: nothing in it is
 * touched until the backup has been checked whole.
 */
function notRestored(err: unknown, from: string, dataDir: string, hadFiles: boolean): Error {
  const unchanged = hadFiles
    ? `the data dir ${dataDir} is unchanged (its index is kept)`
    : `nothing was written to the data dir ${dataDir}`;
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT' && (err as { path?: unknown }).path === from)
    return createError('E_USAGE', `cannot read ${from}: no such file`, { cause: err });
  if (isOperationalError(err)) return createError(err.code, `${err.message}; ${unchanged}`, { cause: err });
  if (isPkgIndexError(err)) return err;
  return createError(
    'E_STORAGE_IO',
    `cannot unpack ${from} into ${join(dataDir, INCOMING_DIR)} (${(err as Error).message}); ${unchanged}. ` +
      'A restore needs room for the backup beside the index it replaces: free space there, then restore again',
    { cause: err },
  );
}

/** Segments, snapshots, the control record and temporary files: everything but the lock. */
async function dataFiles(fs: NodeFs, dir: string): Promise<string[]> {
  const listing = await listDataDir(fs, dir);
  const names = await fs.readdir(dir);
  const known = new Set([...listing.temporary]);
  for (const name of names)
    if (/^(segment-\d{10}\.log|snapshot-\d{10}\.snap)$/.test(name) || name === CONTROL_FILE) known.add(name);
  known.delete(PID_FILE);
  return [...known];
}

/** The control record of a recovered dir whose files are all whole: the last segment as stopped cleanly. */
function controlOf(r: Recovered): ControlRecord {
  const current = r.segments.at(-1);
  return {
    snapshotSeq: r.snapshotSeq,
    sealed: r.segments.slice(0, -1),
    currentSeq: current?.seq ?? 0,
    currentBytes: current?.bytes ?? 0,
    clean: true,
  };
}
