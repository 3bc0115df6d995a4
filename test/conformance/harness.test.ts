import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBrewPackages } from '../../tools/stress/brew-packages.js';
import { checkConsistency, runHarness } from '../../tools/stress/harness.js';
import { THREAD_COUNTS, memoryOf, spawnServer } from '../support/servers.js';

const packages = loadBrewPackages();

for (const threads of THREAD_COUNTS)
  for (const seed of [1, 2, 3]) {
    test(`challenge-style stress: 100 clients, Homebrew list, 25% broken messages, seed ${seed}, ${threads} thread(s)`, async (t) => {
      const server = await spawnServer({ threads });
      try {
        let checked = 0;
        const report = await runHarness({
          port: server.port,
          packages,
          clients: 100,
          seed,
          afterIndex: async () => {
            checked = await checkConsistency(server.port, packages);
          },
        });
        assert.equal(checked, 780, 'every package that another depends on was checked');
        assert.ok(report.broken > report.messages * 0.15, 'broken messages were sent');
        const { peak } = memoryOf(server.child.pid!);
        t.diagnostic(
          `${report.messages} messages (${report.broken} broken) in ${(report.elapsedMs / 1000).toFixed(2)} s; server peak RSS ${(peak / 1048576).toFixed(1)} MiB`,
        );
      } finally {
        assert.equal(await server.stop(), 0);
      }
    });
  }
