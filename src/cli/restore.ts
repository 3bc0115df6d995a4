import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { option } from '../config/command-line.js';
import { OPTIONS } from '../config/options.js';
import { flagBool, text } from '../config/parsers.js';
import { createError, isPkgIndexError } from '../errors.js';
import { restoreArchive } from '../store/backup-archive.js';
import { CONTROL_FILE, listDataDir, PID_FILE, TEMP_SUFFIX } from '../store/data-dir-files.js';
import { writeControl, type ControlRecord } from '../store/control-file.js';
import { DirLock } from '../store/dir-lock.js';
import { NodeFs } from '../store/fs/node-fs.js';
import { recover, type Recovered } from '../store/recover.js';
import { defineCommand } from './command.js';

/**
 * `pkgindex restore --from FILE --data-dir DIR`: unpacks a backup into a data dir, checking
 * every file's checksum and then the whole index (as a server's recovery would), under the
 * data dir's lock so that no server runs on it meanwhile.
 */
export const command = defineCommand({
  description: `Restores a backup made by pkgindex backup into a data dir, then checks it as a server's
startup would (every record's checksum, the index's consistency). The dir must hold no data
files, unless --force, which deletes them first. Start a server on the dir afterwards.`,
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
      help: 'Delete the data files already in the dir (its index is lost) instead of refusing.',
      parse: flagBool,
    }),
  },
  epilogue:
    'Exit status: 0 restored and checked, 2 not restored (the reason on stderr; the dir is left without data files).',
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
      const existing = await dataFiles(fs, dataDir);
      const index = existing.filter((name) => name !== CONTROL_FILE && !name.endsWith(TEMP_SUFFIX));
      if (index.length > 0 && !force)
        throw createError(
          'E_RESTORE_TARGET',
          `data dir ${dataDir} already holds ${index.length} data files; restore into an empty dir, or pass --force to replace its index`,
        );
      // A control record without data files (an emptied dir) describes an index that is gone:
      // the restored one replaces it, so it goes too.
      for (const name of existing) await fs.unlink(join(dataDir, name));
      let restored;
      try {
        restored = await restoreArchive(createReadStream(from), fs, dataDir);
        // A backup made before archives carried a control record: write the one of what was
        // restored (every file whole, the last segment as if stopped cleanly).
        if (!restored.control)
          await writeControl(
            fs,
            dataDir,
            controlOf(await recover(fs, dataDir, { repair: false, createIndex: 'empty' })),
            1,
          );
        // As the server's start will: every record, and the files against the control record.
        const { graph } = await recover(fs, dataDir, { repair: false, createIndex: 'never' });
        process.stdout.write(
          `restored ${restored.files} files (${restored.bytes} bytes) into ${dataDir}: ${graph.size} packages, ${graph.edgeCount} dependencies; checked${restored.control ? '' : ' (control record written: the backup had none)'}\n`,
        );
      } catch (err) {
        // Never leave a part of an index behind: a server started on it would serve it.
        for (const name of await dataFiles(fs, dataDir)) await fs.unlink(join(dataDir, name));
        await fs.syncDir(dataDir);
        if ((err as { code?: unknown }).code === 'ENOENT')
          throw createError('E_USAGE', `cannot read ${from}: no such file`, { cause: err });
        throw err;
      }
    } finally {
      lock.release();
    }
    return 0;
  },
});

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
