import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBrewPackages } from '../../tools/stress/brew-packages.js';
import { checkConsistency, runHarness } from '../../tools/stress/harness.js';
import { createTestDatabase, needPostgres } from '../support/postgres.js';
import { DEFAULT_SERVING, SERVINGS, memoryOf, spawnServer, type ServerProcess } from '../support/servers.js';

const packages = loadBrewPackages();

// Every seed on the default serving (`--io auto` is the native layer, `--threads` the cores);
// one seed on each of the others, a different one each, so that every serving meets broken
// messages and every seed meets more than one serving. The seeds change only which lines are
// broken and in what order, not the code a serving runs, and three seeds on every serving took
// a tenth of the suite's time. Any seeds on any serving:
// `node dist/tools/measure.js stress --seeds 1,2,3,4,5 -- --threads 1 --io node`.

for (const [at, { threads, io, label }] of SERVINGS.entries())
  for (const seed of at === DEFAULT_SERVING ? [1, 2, 3] : [(at % 3) + 1]) {
    test(`challenge-style stress: 100 clients, Homebrew list, 25% broken messages, seed ${seed}, ${label}`, async (t) => {
      const server = await spawnServer({ threads, io });
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
        // Its young generation stayed pinned (ADR 0020), socket threads and all.
        assert.deepEqual(
          server.events.filter((e) => String(e['msg']).startsWith('V8 grew the young generation')),
          [],
        );
        const { peak } = memoryOf(server.child.pid!);
        t.diagnostic(
          `${report.messages} messages (${report.broken} broken) in ${(report.elapsedMs / 1000).toFixed(2)} s; server peak RSS ${(peak / 1048576).toFixed(1)} MiB`,
        );
      } finally {
        assert.equal(await server.stop(), 0);
      }
    });
  }

// The same harness with its 100 clients spread over three instances sharing one PostgreSQL,
// each with two batches in flight:
// every instance must answer as the one server above does.
for (const seed of [1, 2, 3]) {
  test(`challenge-style stress on PostgreSQL: 100 clients over 3 instances, seed ${seed}`, async (t) => {
    if (!(await needPostgres(t))) return;
    const url = await createTestDatabase(t);
    const servers: ServerProcess[] = [];
    try {
      for (let i = 0; i < 3; i++)
        servers.push(
          await spawnServer({
            storage: 'postgres',
            admin: false,
            // Two batches in flight per instance: its own batches race each other too.
            env: { PKGINDEX_DATABASE_URL: url, PKGINDEX_DATABASE_BATCHES_IN_FLIGHT: '2' },
          }),
        );
      const ports = servers.map((s) => s.port);
      let checked = 0;
      const report = await runHarness({
        port: ports,
        packages,
        clients: 100,
        seed,
        afterIndex: async () => {
          // Checked through another instance than most clients used.
          checked = await checkConsistency(ports[seed % 3]!, packages);
        },
      }).catch((err: unknown) => {
        // A reply the harness did not expect: say what the instances logged about it.
        const warnings = servers.flatMap((s) => s.events.filter((e) => Number(e.level) >= 40));
        throw new Error(
          `${(err as Error).message}; the instances' warnings: ${JSON.stringify(warnings.slice(0, 5))}`,
          { cause: err },
        );
      });
      assert.equal(checked, 780, 'every package that another depends on was checked');
      t.diagnostic(
        `${report.messages} messages (${report.broken} broken) in ${(report.elapsedMs / 1000).toFixed(2)} s over 3 instances`,
      );
    } finally {
      for (const s of servers) assert.equal(await s.stop(), 0);
    }
  });
}
