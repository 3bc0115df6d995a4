import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { DependencyGraph } from '../../../src/graph/dependency-graph.js';
import { REPLY_NAMES } from '../../../src/protocol/reply.js';
import { applyCommand } from '../../../src/store/apply-command.js';
import type { PkgIndexConfig } from '../../../src/root.js';
import { LineClient } from '../../support/line-client.js';
import { createTestDatabase, databaseState, needPostgres } from '../../support/postgres.js';
import { startServer } from '../../support/servers.js';
import { commandLine as line, randomCommand, seededRandom, stateOf } from '../support/workload.js';

// postgres-3: three batches in flight per instance (--database-batches-in-flight 3), on two
// threads: a connection's chunks must still apply in its order while others run beside them.
type Backend = 'memory' | 'postgres' | 'postgres-3';

/** The configuration of a server on `backend`, or null when the test is skipped. */
async function configFor(t: TestContext, backend: Backend): Promise<Partial<PkgIndexConfig> | null> {
  if (backend === 'memory') return { storage: 'memory' };
  if (!(await needPostgres(t))) return null;
  const databaseUrl = await createTestDatabase(t);
  if (backend === 'postgres') return { storage: 'postgres', databaseUrl };
  // On two threads: the index owner executes the socket thread's batches, whose origin is
  // the thread.
  return { storage: 'postgres', databaseUrl, databaseBatchesInFlight: 3, databasePoolSize: 5, threads: 2 };
}

// The same tests, and the same expected replies, on the embedded and the PostgreSQL backend.
for (const backend of ['memory', 'postgres', 'postgres-3'] as const)
  describe(`backend ${backend}`, () => {
    test('answers pipelined lines in order, many lines in one write', async (t) => {
      const config = await configFor(t, backend);
      if (config === null) return;
      const { port, close } = await startServer(config);
      const c = await LineClient.open(port);
      const lines = [
        'INDEX|a|',
        'INDEX|b|a',
        'QUERY|b|',
        'REMOVE|a|',
        'bad',
        'REMOVE|b|',
        'REMOVE|a|',
        'QUERY|a|',
      ];
      assert.deepEqual(await c.request(...lines), ['OK', 'OK', 'OK', 'FAIL', 'ERROR', 'OK', 'OK', 'FAIL']);
      assert.deepEqual(await c.request('INDEX|x|', 'INDEX|y|x', 'INDEX|x|y', 'INDEX|x|x', 'INDEX|y|x,x'), [
        'OK',
        'OK',
        'FAIL',
        'FAIL',
        'OK',
      ]);
      c.close();
      await close();
    });

    for (const seed of [1, 2, 3])
      test(`model: random commands from 8 clients with their own names, in pipelined chunks, seed ${seed}`, async (t) => {
        const config = await configFor(t, backend);
        if (config === null) return;
        const { port, close } = await startServer(config);
        // Each client works on names of its own, so its replies follow from its commands alone
        // whatever the interleaving, and a model per client predicts every one.
        const final: string[] = [];
        await Promise.all(
          Array.from({ length: 8 }, async (_, client) => {
            const random = seededRandom(seed * 100 + client);
            const names = Array.from({ length: 12 }, (_, i) => `c${client}p${i}`);
            const model = new DependencyGraph();
            const conn = await LineClient.open(port);
            for (let round = 0; round < 25; round++) {
              const commands = Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
                randomCommand(random, names),
              );
              const expected = commands.map((c) => REPLY_NAMES[applyCommand(model, c).reply]);
              assert.deepEqual(
                await conn.request(...commands.map(line)),
                expected,
                `client ${client} round ${round}`,
              );
            }
            conn.close();
            final.push(...stateOf(model));
          }),
        );
        if (backend !== 'memory') {
          const state = await databaseState(config.databaseUrl!);
          const held = [...state].map(([n, deps]) => `${n}|${deps.join(',')}`).sort();
          assert.deepEqual(held, final.sort());
        }
        await close();
      });
  });
