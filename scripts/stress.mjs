#!/usr/bin/env node
// The challenge-style stress test as a script, for figures: 100 clients, the Homebrew list,
// 25% broken messages, against `pkgindex serve` started with the given extra arguments.
// Prints time and the server's peak RSS per seed.
//   npm run build && node scripts/stress.mjs [--seeds 1,2,3] [-- serve args...]
import { parseArgs } from 'node:util';
const dist = new URL('../dist/test/support/', import.meta.url);
const { loadBrewPackages } = await import(new URL('brew.js', dist).href);
const { runHarness, checkConsistency } = await import(new URL('harness.js', dist).href);
const { spawnServer, memoryOf } = await import(new URL('servers.js', dist).href);

const { values, positionals } = parseArgs({
  options: { seeds: { type: 'string', default: '1,2,3' }, clients: { type: 'string', default: '100' } },
  allowPositionals: true,
});
const packages = loadBrewPackages();
for (const seed of values.seeds.split(',').map(Number)) {
  const server = await spawnServer({ args: positionals });
  try {
    const report = await runHarness({
      port: server.port,
      packages,
      clients: Number(values.clients),
      seed,
      afterIndex: () => checkConsistency(server.port, packages),
    });
    const { peak } = memoryOf(server.child.pid);
    console.log(
      `seed ${seed}: ${report.messages} messages (${report.broken} broken) in ${(report.elapsedMs / 1000).toFixed(2)} s; ` +
        `server peak RSS ${(peak / 1048576).toFixed(1)} MiB (${(peak / 1e6).toFixed(1)} MB)`,
    );
  } finally {
    await server.stop();
  }
}
