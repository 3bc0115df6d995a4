/**
 * `measure crash`: the long crash test. kill -9 of the durable server at random moments, many
 * cycles and seeds, checking every time that the data dir holds exactly the acknowledged history.
 */
import { readdir } from 'node:fs/promises';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { intOption, parseToolArgs } from '../support/options.js';
import { runCrashCycles } from './cycles.js';

export const usage = `Usage: node dist/tools/measure.js crash [options] [-- serve args...]

  --cycles N                 kill -9 and restart cycles per seed (default 20)
  --seeds N                  seeds 1..N, each on a fresh data dir (default 5)
  --clients N                concurrent clients (default 16)
  --compact-after-bytes N    the server's compaction threshold (default 65536: compacts often)
  --sync-mode MODE           durable or relaxed (default durable)

Arguments after -- go to every \`pkgindex serve\` (e.g. -- --threads 2), after the ones above.`;

export async function main(argv: readonly string[]): Promise<number> {
  const { values, rest } = parseToolArgs(
    argv,
    {
      cycles: { type: 'string' },
      seeds: { type: 'string' },
      clients: { type: 'string' },
      'compact-after-bytes': { type: 'string' },
      'sync-mode': { type: 'string' },
    },
    usage,
  );
  const seeds = intOption('--seeds', values.seeds, 5);
  for (let seed = 1; seed <= seeds; seed++) {
    const dir = newDataDir('pkgindex-crash-');
    try {
      const report = await runCrashCycles({
        dir,
        seed,
        cycles: intOption('--cycles', values.cycles, 20),
        clients: intOption('--clients', values.clients, 16),
        minRunMs: 100,
        maxRunMs: 1500,
        args: [
          '--compact-after-bytes',
          String(intOption('--compact-after-bytes', values['compact-after-bytes'], 65_536)),
          '--sync-mode',
          values['sync-mode'] ?? 'durable',
          ...rest,
        ],
        log: (line) => {
          console.log(`seed ${seed} ${line}`);
        },
      });
      console.log(
        `seed ${seed}: OK ${JSON.stringify(report)}; files at the end: ${(await readdir(dir)).join(' ')}`,
      );
    } finally {
      removeDataDir(dir);
    }
  }
  return 0;
}
