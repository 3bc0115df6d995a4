/**
 * `pkgindex init`: creates a new, empty index, the explicit way to start one in a directory
 * that already exists (a mounted volume), since a server started with the default
 * --create-index=missing creates one only by making its --data-dir (ADR 0008).
 */
import { offlineDataDirOption } from '../config/options.js';
import { createError, isPkgIndexError } from '../errors.js';
import { accessError } from '../store/disk-store.js';
import { NodeFs } from '../store/fs/node-fs.js';
import { initDataDir } from '../store/new-index.js';
import { defineCommand } from './command.js';

export const command = defineCommand({
  description: `Initialises a new, empty index in a data dir, creating the dir if it does not exist.
Refuses a dir that holds anything (an index, a trace of one, or other files; an ext file
system's lost+found aside), under the same lock a server takes. Then start \`pkgindex serve\`
on it.`,
  options: {
    dataDir: offlineDataDirOption('The data directory to initialise (the --data-dir of the server).'),
  },
  epilogue:
    'Exit status: 0 initialised, 2 refused (the reason on stderr: not empty, locked by a server, not writable).',
  run: async ({ dataDir }) => {
    await initDataDir(new NodeFs(), dataDir).catch((err: unknown) => {
      if (isPkgIndexError(err)) throw err;
      throw (
        accessError(dataDir, err) ??
        createError(
          'E_STORAGE_IO',
          `cannot initialise data dir ${dataDir} (${String(err)}); check the path`,
          {
            cause: err,
          },
        )
      );
    });
    process.stdout.write(
      `initialised a new, empty index in ${dataDir}; start it with pkgindex serve --data-dir ${dataDir}\n`,
    );
    return 0;
  },
});
