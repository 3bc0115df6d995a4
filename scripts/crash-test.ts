// Long crash test: kill -9 the server at random moments, many cycles and seeds, and check
// every time that the data dir holds exactly the acknowledged history.
//   npm run build && npx tsx scripts/crash-test.ts [--cycles 20] [--seeds 5] [--clients 16] [--compact-after-bytes N]
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCrashCycles } from '../test/store/support/crash-cycles.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20' },
    seeds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    'compact-after-bytes': { type: 'string', default: '65536' },
    'sync-mode': { type: 'string', default: 'durable' },
  },
});

for (let seed = 1; seed <= Number(values.seeds); seed++) {
  const dir = await mkdtemp(join(tmpdir(), 'pkgindex-crash-'));
  try {
    const report = await runCrashCycles({
      dir,
      seed,
      cycles: Number(values.cycles),
      clients: Number(values.clients),
      minRunMs: 100,
      maxRunMs: 1500,
      args: ['--compact-after-bytes', values['compact-after-bytes'], '--sync-mode', values['sync-mode']],
      log: (line) => {
        console.log(`seed ${seed} ${line}`);
      },
    });
    console.log(
      `seed ${seed}: OK ${JSON.stringify(report)}; files at the end: ${(await readdir(dir)).join(' ')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
