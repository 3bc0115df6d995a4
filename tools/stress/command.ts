/**
 * `measure stress`: the challenge-style stress test for figures. 100 clients, the Homebrew
 * list, 25% broken messages, against `pkgindex serve` started with the given extra arguments;
 * prints time and the server's peak RSS per seed.
 */
import { intOption, parseToolArgs } from '../support/options.js';
import { memoryOf, sampleAnonPeak, spawnServer } from '../support/serve-process.js';
import { loadBrewPackages } from './brew-packages.js';
import { checkConsistency, runHarness } from './harness.js';

export const usage = `Usage: node dist/tools/measure.js stress [--seeds 1,2,3] [--clients 100] [-- serve args...]

The server runs in memory with the admin server on a free port unless the serve arguments
after -- say otherwise (e.g. -- --admin=false, -- --storage disk --data-dir DIR).`;

export async function main(argv: readonly string[]): Promise<number> {
  const { values, rest } = parseToolArgs(
    argv,
    { seeds: { type: 'string' }, clients: { type: 'string' } },
    usage,
  );
  const seeds = (values.seeds ?? '1,2,3').split(',').map((s) => intOption('--seeds', s, 1, 0));
  const clients = intOption('--clients', values.clients, 100);
  const packages = loadBrewPackages();
  for (const seed of seeds) {
    const server = await spawnServer({ args: rest });
    try {
      const anon = sampleAnonPeak(server.pid);
      const report = await runHarness({
        port: server.port,
        packages,
        clients,
        seed,
        afterIndex: async () => {
          await checkConsistency(server.port, packages);
        },
      });
      const peakAnon = anon.stop();
      const { peak } = memoryOf(server.pid);
      console.log(
        `seed ${seed}: ${report.messages} messages (${report.broken} broken) in ${(report.elapsedMs / 1000).toFixed(2)} s; ` +
          `server peak RSS ${(peak / 1048576).toFixed(1)} MiB (${(peak / 1e6).toFixed(1)} MB), ` +
          `peak RssAnon ${(peakAnon / 1048576).toFixed(1)} MiB (${(peakAnon / 1e6).toFixed(1)} MB, sampled every 50 ms)`,
      );
    } finally {
      await server.stop();
    }
  }
  return 0;
}
