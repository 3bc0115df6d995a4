/**
 * `pkgindex fsck`: verifies a data dir offline and says what it found. Exit status 0 when it
 * is clean, 1 when it is damaged (the server would refuse it), 2 on a usage error.
 */
import { option } from '../config/command-line.js';
import { offlineDataDirOption } from '../config/options.js';
import { flagBool } from '../config/parsers.js';
import { NodeFs } from '../store/fs/node-fs.js';
import { formatFsckReport, fsckDataDir } from '../store/fsck.js';
import { defineCommand } from './command.js';

export const command = defineCommand({
  description:
    'Verifies a data directory offline, changing nothing: every frame and checksum, the control record, the snapshot, that every record applies, and that the log holds everything the control record says was made durable. Run it on a stopped server (or on a copy).',
  options: {
    dataDir: offlineDataDirOption('The data directory to check (the --data-dir of the server).'),
    json: option({
      flag: '--json',
      default: false,
      help: 'Print the report as one JSON object instead of text.',
      parse: flagBool,
    }),
  },
  epilogue:
    'Exit status: 0 clean (a torn tail a crash left is clean: the next start cuts it), 1 damaged, 2 usage error or a data dir that cannot be read.',
  run: async ({ dataDir, json }) => {
    const report = await fsckDataDir(new NodeFs(), dataDir);
    process.stdout.write(json ? JSON.stringify(report) + '\n' : formatFsckReport(report));
    return report.clean ? 0 : 1;
  },
});
